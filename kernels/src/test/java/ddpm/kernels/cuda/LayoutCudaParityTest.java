package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

/** layout.cu: permute and slices, exact. */
class LayoutCudaParityTest extends CudaTestBase {
    void permute(int[] shape, int... perm) {
        P x = rand(shape);
        int[] os = new int[shape.length];
        for (int i = 0; i < os.length; i++) os[i] = shape[perm[i]];
        P o = out(os);
        cpu.permute(x.c(), perm, o.c());
        gpu.permute(x.g(), perm, o.g());
        assertClose("permute " + java.util.Arrays.toString(perm), o, 0);
    }

    @Test void permutes() {
        permute(new int[]{3, 5, 7}, 2, 0, 1);
        permute(new int[]{2, 3, 4, 5}, 0, 2, 3, 1);
        permute(new int[]{2, 1, 3, 1, 2, 3, 2, 2}, 7, 6, 5, 4, 3, 2, 1, 0);
        permute(new int[]{11}, 0);
    }

    /** U-Net attention reshapes: [B, C, HW] -> [B, HW, C]. */
    @Test void permuteUNet() { permute(new int[]{pick(128, 2), 256, 256}, 0, 2, 1); }

    void slices(int[] big, int axis, int start, int len) {
        int[] small = big.clone();
        small[axis] = len;
        P src = rand(small), dst = rand(big);
        P dstCopy = outOf(dst);
        cpu.writeSlice(src.c(), dstCopy.c(), axis, start);
        gpu.writeSlice(src.g(), dstCopy.g(), axis, start);
        assertClose("writeSlice axis " + axis, dstCopy, 0);
        P r = out(small);
        cpu.readSlice(dst.c(), r.c(), axis, start);
        gpu.readSlice(dst.g(), r.g(), axis, start);
        assertClose("readSlice axis " + axis, r, 0);
    }

    @Test void sliceCopies() {
        slices(new int[]{3, 7, 5}, 1, 2, 4);
        slices(new int[]{3, 7, 5}, 0, 1, 2);
        slices(new int[]{3, 7, 5}, 2, 4, 1);
        slices(new int[]{3, 7, 5}, 2, 0, 5);
    }

    /** U-Net skip concat: [128, 256+256, 16, 16] along channels. */
    @Test void sliceUNet() { slices(new int[]{pick(128, 2), 512, 16, 16}, 1, 256, 256); }
}
