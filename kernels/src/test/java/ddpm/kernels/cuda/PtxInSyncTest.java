package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The committed PTX must be what build-ptx.sh makes from the .cu sources (runs without a GPU).
 * Recompiling all families takes ~4 s of CPU (12 nvcc -ptx runs), so the check recompiles rather
 * than comparing a manifest of source hashes; it skips with a reason where nvcc is absent.
 */
class PtxInSyncTest {
    static final Path MODULE = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    static final Path CUDA = MODULE.resolve("src/main/cuda");
    static final Path PTX = MODULE.resolve("src/main/resources/ddpm/kernels/ptx");

    static TreeSet<String> names(Path dir, String ext) throws IOException {
        TreeSet<String> s = new TreeSet<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(ext))
                    .forEach(n -> s.add(n.substring(0, n.length() - ext.length())));
        }
        return s;
    }

    @Test
    void everyFamilyHasCommittedPtx() throws IOException {
        assumeTrue(Files.isDirectory(CUDA), "sources not found at " + CUDA);
        assertEquals(names(CUDA, ".cu"), names(PTX, ".ptx"), "each src/main/cuda/<family>.cu needs ptx/<family>.ptx");
        for (String f : names(CUDA, ".cu")) assertTrue(GpuDriver.ptx(f).length > 100, f + ".ptx on the class path");
    }

    static boolean nvccOnPath() {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String d : path.split(File.pathSeparator))
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "nvcc"))) return true;
        return false;
    }

    /** The host driver's probe kernels (src/test/cuda) are CUDA too: nvcc must accept them for sm_90. */
    @Test
    void probeKernelsCompileWithNvcc() throws Exception {
        assumeTrue(nvccOnPath(), "nvcc is not on PATH: cannot check the probe kernels compile for the GPU");
        Path tmp = Files.createTempFile("probe", ".ptx");
        try {
            Process p = new ProcessBuilder("nvcc", "-arch=compute_90", "-ptx", "-std=c++17", "-I" + CUDA,
                    MODULE.resolve("src/test/cuda/probe.cu").toString(), "-o", tmp.toString()).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc timed out");
            assertEquals(0, p.exitValue(), "nvcc rejects src/test/cuda/probe.cu:\n" + log);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    @Test
    void committedPtxMatchesSources() throws Exception {
        assumeTrue(Files.isDirectory(CUDA), "sources not found at " + CUDA);
        assumeTrue(nvccOnPath(), "nvcc is not on PATH: cannot recompile the PTX to compare");
        Path tmp = Files.createTempDirectory("ptx-check");
        try {
            List<String> cmd = new ArrayList<>(List.of("bash", MODULE.resolve("build-ptx.sh").toString(), tmp.toString()));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().put("JOBS", "4");   // nvcc -ptx is mostly process start-up: overlap more
            Process p = pb.start();
            String log = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "build-ptx.sh timed out");
            assertEquals(0, p.exitValue(), "build-ptx.sh failed:\n" + log);
            for (String f : names(CUDA, ".cu")) {
                byte[] fresh = Files.readAllBytes(tmp.resolve(f + ".ptx"));
                byte[] committed = Files.readAllBytes(PTX.resolve(f + ".ptx"));
                assertArrayEquals(fresh, committed, f + ".ptx is stale: run kernels/build-ptx.sh and commit the result");
            }
        } finally {
            try (Stream<Path> w = Files.walk(tmp)) {
                w.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
            }
        }
    }
}
