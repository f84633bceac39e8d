package ddpm.kernels.cuda;

/** JNI entry points of libjddpm_host.so (kernels/src/main/host/host_runtime.cpp). Calls that can
 *  fail return the error message, or null on success. */
final class HostNative {
    private HostNative() {}

    /** A fresh, 256-byte aligned block filled with 0xFF bytes, or 0 when over the memory limit. */
    static native long malloc(long bytes);

    static native String free(long address);

    static native void setMemoryLimit(long bytes);

    /** {free, total} bytes under the memory limit. */
    static native long[] memInfo();

    /** count 4-byte values between a float[] or int[] (from offset) and device memory. */
    static native String copy(long device, Object array, int offset, int count, boolean toDevice);

    static native String copyDeviceToDevice(long dst, long src, long bytes);

    static native String memset32(long dst, int bits, long count);

    /** Opens a kernel library; its handle goes to handleOut[0]. */
    static native String open(String path, long[] handleOut);

    /** Per entry: family, name, parameter kinds, sizes (comma separated), launch bound; tab separated. */
    static native String[] entries(long library);

    static native long[] launchCounts(long library);

    /** Runs entry {@code index} to completion; parameters packed in words at byte offsets. */
    static native String launch(long library, int index, int gx, int gy, int gz, int bx, int by, int bz,
                                int sharedBytes, int sharedLimit, long[] words, int[] offsets);
}
