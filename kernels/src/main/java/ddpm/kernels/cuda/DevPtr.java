package ddpm.kernels.cuda;

import jcuda.driver.CUdeviceptr;

/** A CUdeviceptr whose raw address is readable: kernels take addresses as 64-bit values, so a
 *  launch needs no JNI pointer object per tensor, and views at an offset are plain arithmetic. */
final class DevPtr extends CUdeviceptr {
    DevPtr() { super(); }

    private DevPtr(DevPtr base, long byteOffset) { super(base, byteOffset); }

    /** A pointer that only carries {@code address} (native pointer 0 plus a byte offset): for
     *  {@link DryRun}, never handed to the driver. */
    static DevPtr fake(long address) { return new DevPtr(new DevPtr(), address); }

    /** The device address: the native pointer plus the byte offset that {@link #at} views carry
     *  (JCuda adds the byte offset itself when it passes a pointer object to the driver). */
    long address() { return getNativePointer() + getByteOffset(); }

    /** A pointer object at {@code byteOffset} (for cuBLAS and memcpy calls). */
    DevPtr at(long byteOffset) { return byteOffset == 0 ? this : new DevPtr(this, byteOffset); }
}
