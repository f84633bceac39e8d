package ddpm.kernels.cuda;

import ddpm.kernels.cuda.testing.CudaTests;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs after every other test class of the module (junit-platform.properties orders classes by
 * {@link Order}): every entry point of every .cu file (the .entry list of the committed PTX) must
 * have been launched through the real {@link CudaBackend} by the tests before it. Prints the tally,
 * "host kernels: N of M entries launched" on the host driver ("gpu kernels: ..." on a GPU).
 */
@Tag("gpu")
@Order(Integer.MAX_VALUE)
class HostKernelCoverageTest {
    @Test
    void everyKernelEntryPointWasLaunched() {
        CudaTests.assumeCuda();
        Map<String, Long> counts = KernelModule.launchCounts();
        List<String> all = new ArrayList<>(), never = new ArrayList<>();
        Ptx.all().forEach((family, entries) -> entries.keySet().forEach(name -> all.add(family + "." + name)));
        for (String e : all) if (counts.getOrDefault(e, 0L) == 0) never.add(e);
        String kind = CudaTests.onHost() ? "host" : "gpu";
        System.out.println(kind + " kernels: " + (all.size() - never.size()) + " of " + all.size() + " entries launched");
        assertTrue(never.isEmpty(), "entry points no test launched: " + never);
    }
}
