package ddpm.kernels.cuda;

import jcuda.driver.CUdeviceptr;

/** A CUdeviceptr whose raw address is readable: kernels take addresses as 64-bit values, so a
 *  launch needs no JNI pointer object per tensor, and views at an offset are plain arithmetic. */
final class DevPtr extends CUdeviceptr {
    DevPtr() { super(); }

    private DevPtr(DevPtr base, long byteOffset) { super(base, byteOffset); }

    long address() { return getNativePointer(); }

    /** A pointer object at {@code byteOffset} (for cuBLAS and memcpy calls). */
    DevPtr at(long byteOffset) { return byteOffset == 0 ? this : new DevPtr(this, byteOffset); }
}
