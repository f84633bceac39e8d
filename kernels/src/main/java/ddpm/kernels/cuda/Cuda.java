package ddpm.kernels.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasStatus;

import java.util.function.Supplier;

/** Result-code checks for the driver API and cuBLAS (JCuda exceptions stay disabled, so every
 *  call returns its code and the message can say which call, kernel and shapes failed). */
final class Cuda {
    private Cuda() {}

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) throw new CudaException(call + " failed: " + errorName(result));
    }

    static void check(int result, String call, Supplier<String> context) {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(call + " failed: " + errorName(result) + " (" + context.get() + ")");
    }

    static String errorName(int result) {
        String name = CUresult.stringFor(result);
        try {
            String[] desc = new String[1];
            if (JCudaDriver.cuGetErrorString(result, desc) == CUresult.CUDA_SUCCESS && desc[0] != null)
                return name + " (" + desc[0] + ")";
        } catch (Throwable ignored) {
            // natives unusable: the code name alone must do
        }
        return name;
    }

    static void checkBlas(int status, String call, Supplier<String> context) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
            String s = cublasStatus.stringFor(status);
            throw new CudaException(call + " failed: " + s + " (" + context.get() + ")");
        }
    }

    static void checkBlas(int status, String call) {
        checkBlas(status, call, () -> "no context");
    }

    /** Ensures cuBLAS natives are loaded (the class initialiser loads them). */
    static void loadBlas() {
        JCublas2.setExceptionsEnabled(false);
    }
}
