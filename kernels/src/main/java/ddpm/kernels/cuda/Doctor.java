package ddpm.kernels.cuda;

import ddpm.engine.Backends;
import ddpm.engine.Device;

/**
 * One line on what the CUDA backend finds here: the driver (-Dddpm.cuda.driver, jcuda by default),
 * the device, the CUDA driver API and cuBLAS versions, the JCuda/JCublas versions and where their
 * natives were looked for. Exits 1 with the reason when CUDA cannot be opened.
 *
 * <p>usage: {@code java ddpm.kernels.cuda.Doctor} (on the GPU machine: {@code bash .device/run.sh java ddpm.kernels.cuda.Doctor})
 */
public final class Doctor {
    private Doctor() {}

    public static void main(String[] args) {
        try {
            CudaBackend be = (CudaBackend) Backends.get(Device.cuda(0));
            System.out.println("doctor: " + be.describe() + "; " + be.driverDetails());
        } catch (RuntimeException | LinkageError e) {
            System.out.println("doctor: CUDA cannot be used here: " + e.getMessage());
            System.exit(1);
        }
    }
}
