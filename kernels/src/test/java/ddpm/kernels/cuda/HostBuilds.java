package ddpm.kernels.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Builds extra host kernel libraries for tests (the probe kernels, mutated copies of real ones)
 *  with kernels/build-host.sh, and opens host drivers over them. */
final class HostBuilds {
    private HostBuilds() {}

    static final Path MODULE = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    static final Path CUDA = MODULE.resolve("src/main/cuda");

    /** Skips (saying why) where the host driver is not built here. */
    static void assumeHostDriver() {
        String why = HostDriver.unavailableReason();
        assumeTrue(why == null, () -> "the host driver cannot run here: " + why);
    }

    /** Compiles the .cu files of {@code sources} into target/host-test/{@code name}/libjddpm_kernels.so. */
    static Path build(String name, Path sources) throws IOException, InterruptedException {
        Path out = MODULE.resolve("target/host-test/" + name);
        Files.createDirectories(out);
        ProcessBuilder pb = new ProcessBuilder("bash", MODULE.resolve("build-host.sh").toString(), out.toString(), "checked",
                System.getProperty("java.home"), sources.toString(), out.resolve("obj").toString()).redirectErrorStream(true);
        pb.environment().put("TARGET", "kernels");
        Process p = pb.start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "build-host.sh timed out");
        assertEquals(0, p.exitValue(), "build-host.sh failed for " + sources + ":\n" + log);
        Path lib = out.resolve("libjddpm_kernels.so");
        assertTrue(Files.isRegularFile(lib), "no " + lib + ":\n" + log);
        return lib;
    }
}
