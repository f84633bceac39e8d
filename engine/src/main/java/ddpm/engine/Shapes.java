package ddpm.engine;

import java.util.Arrays;

/** Shape arithmetic: sizes, broadcasting, axis normalisation, with errors that name the shapes. */
public final class Shapes {
    private Shapes() {}

    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    public static String str(int[] shape) { return Arrays.toString(shape); }

    public static void check(int[] shape) {
        for (int d : shape)
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + str(shape));
    }

    /** Normalises a possibly negative axis for a tensor of the given rank. */
    public static int axis(int axis, int rank, String op) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank)
            throw new IllegalArgumentException(op + ": axis " + axis + " is out of range for rank " + rank
                    + (rank > 0 ? " (valid axes " + (-rank) + ".." + (rank - 1) + ")" : " (no axes)"));
        return a;
    }

    /** Normalises a possibly negative axis of a tensor of {@code shape}; the error names the shape. */
    public static int axis(int axis, int[] shape, String op) {
        int r = shape.length, a = axis < 0 ? axis + r : axis;
        if (a < 0 || a >= r)
            throw new IllegalArgumentException(op + ": axis " + axis + " is out of range for shape " + str(shape)
                    + " (rank " + r + (r > 0 ? ", valid axes " + (-r) + ".." + (r - 1) : ", no axes") + ")");
        return a;
    }

    /** The numpy broadcast of two shapes, or an error naming both. */
    public static int[] broadcast(int[] a, int[] b, String op) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int i = 0; i < r; i++) {
            int da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            int db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b)
                        + " do not broadcast (axis " + i + ": " + da + " vs " + db + ")");
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Row-major strides of {@code shape} aligned to an output of rank {@code rank}, 0 where broadcast. */
    public static long[] broadcastStrides(int[] shape, int[] outShape) {
        int r = outShape.length;
        long[] s = new long[r];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            int oi = i + (r - shape.length);
            s[oi] = shape[i] == 1 && outShape[oi] != 1 ? 0 : acc;
            acc *= shape[i];
        }
        return s;
    }

    public static long[] strides(int[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }
}
