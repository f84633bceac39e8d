package ddpm.kernels.cuda;

import jcuda.driver.CUdeviceptr;

/** A CUdeviceptr whose raw address is readable (kernels take addresses as 64-bit values) and from
 *  which pointer objects at an offset can be made (for cuBLAS and memcpy calls). */
final class DevPtr extends CUdeviceptr {
    DevPtr() { super(); }

    private DevPtr(DevPtr base, long byteOffset) { super(base, byteOffset); }

    /** The device address: the native pointer plus the byte offset that {@link #at} views carry. */
    long address() { return getNativePointer() + getByteOffset(); }

    /** A pointer object at {@code byteOffset} from this one. */
    DevPtr at(long byteOffset) { return byteOffset == 0 ? this : new DevPtr(this, byteOffset); }
}
