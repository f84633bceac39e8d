package ddpm.kernels.cuda;

import ddpm.kernels.cuda.testing.CudaTests;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs after every other test class of the module (junit-platform.properties orders classes by
 * {@link Order}): on the host driver, every entry point of every .cu file must have been launched
 * by the tests before it, through the real {@link CudaBackend}. Prints the tally.
 */
@Tag("gpu")
@Order(Integer.MAX_VALUE)
class HostKernelCoverageTest {
    @Test
    void everyKernelEntryPointWasLaunched() {
        CudaTests.assumeCuda();
        CudaBackend be = CudaTests.backend();
        assumeTrue(be.driver() instanceof HostDriver, "counts launches on the host driver only (this run uses "
                + be.driverKind() + ")");
        Map<String, Long> counts = ((HostDriver) be.driver()).launchCounts();
        List<String> never = counts.entrySet().stream().filter(e -> e.getValue() == 0).map(Map.Entry::getKey).toList();
        System.out.println("host kernels: " + (counts.size() - never.size()) + " of " + counts.size() + " entries launched");
        assertTrue(never.isEmpty(), "entry points no test launched: " + never);
    }
}
