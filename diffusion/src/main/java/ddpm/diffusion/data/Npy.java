package ddpm.diffusion.data;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The NumPy .npy format, version 1.0: magic "\x93NUMPY", version 1 0, a little-endian uint16
 * header length, then an ASCII dict {'descr': ..., 'fortran_order': False, 'shape': (...), }
 * padded with spaces and a newline so the data starts at a multiple of 64; then the raw C-order
 * data. {@code numpy.load("samples.npy")} reads what this writes.
 */
public final class Npy {
    private Npy() {}

    /** float32 little-endian ('<f4'). */
    public static void writeF32(Path file, float[] data, int... shape) throws IOException {
        check(data.length, shape);
        ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        write(file, "<f4", shape, buf.array());
    }

    /** uint8 ('|u1'). */
    public static void writeU8(Path file, byte[] data, int... shape) throws IOException {
        check(data.length, shape);
        write(file, "|u1", shape, data);
    }

    /** int32 little-endian ('<i4'). */
    public static void writeI32(Path file, int[] data, int... shape) throws IOException {
        check(data.length, shape);
        ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asIntBuffer().put(data);
        write(file, "<i4", shape, buf.array());
    }

    /**
     * Images [B, C, H, W] in [−1, 1] as uint8 [B, H, W, C] in 0..255 (the layout image tools and
     * FID evaluators expect).
     */
    public static void writeImagesU8(Path file, float[] x, int b, int c, int h, int w) throws IOException {
        check(x.length, new int[]{b, c, h, w});
        byte[] out = new byte[x.length];
        for (int i = 0; i < b; i++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++)
                        out[((i * h + y) * w + xx) * c + ch] = (byte) Images.toByte(x[((i * c + ch) * h + y) * w + xx]);
        writeU8(file, out, b, h, w, c);
    }

    private static void check(int n, int[] shape) {
        long p = 1;
        for (int s : shape) p *= s;
        if (p != n) throw new IllegalArgumentException(n + " values for shape " + java.util.Arrays.toString(shape));
    }

    static byte[] header(String descr, int[] shape) {
        StringBuilder sh = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sh.append(", ");
            sh.append(shape[i]);
        }
        if (shape.length == 1) sh.append(',');
        sh.append(')');
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
        int unpadded = 10 + dict.length() + 1;
        int total = (unpadded + 63) / 64 * 64;
        String h = dict + " ".repeat(total - unpadded) + "\n";
        byte[] hb = h.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(10 + hb.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) hb.length).put(hb);
        return b.array();
    }

    private static void write(Path file, String descr, int[] shape, byte[] data) throws IOException {
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
            out.write(header(descr, shape));
            out.write(data);
        }
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
    }

    /** A loaded array: its dtype descriptor, shape and raw little-endian data. */
    public record Array(String descr, int[] shape, byte[] data) {
        /** The values of an integer array ('<i4', '<i8', '|u1', '|i1'). */
        public int[] ints() {
            ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            return switch (descr) {
                case "<i4" -> { int[] v = new int[data.length / 4]; b.asIntBuffer().get(v); yield v; }
                case "<i8" -> {
                    int[] v = new int[data.length / 8];
                    for (int i = 0; i < v.length; i++) v[i] = Math.toIntExact(b.getLong(i * 8));
                    yield v;
                }
                case "|u1" -> { int[] v = new int[data.length]; for (int i = 0; i < v.length; i++) v[i] = data[i] & 0xFF; yield v; }
                case "|i1" -> { int[] v = new int[data.length]; for (int i = 0; i < v.length; i++) v[i] = data[i]; yield v; }
                default -> throw new IllegalStateException("array is " + descr + ", not an integer type");
            };
        }

        /**
         * Images as floats in [−1, 1], [N, C, H, W]: from float32 [N, C, H, W] (as {@link #writeF32}
         * writes them) or uint8 [N, H, W, C] in 0..255 (as {@link #writeImagesU8} does); returns
         * the floats and sets {@code nchw} to N, C, H, W.
         */
        public float[] images(int[] nchw) {
            if (shape.length != 4) throw new IllegalStateException("images must be a 4-d array, this one is " + java.util.Arrays.toString(shape));
            if (descr.equals("<f4")) {
                System.arraycopy(shape, 0, nchw, 0, 4);
                return floats();
            }
            if (!descr.equals("|u1")) throw new IllegalStateException("images must be float32 [N, C, H, W] or uint8 [N, H, W, C], not " + descr);
            int n = shape[0], h = shape[1], w = shape[2], c = shape[3];
            float[] x = new float[data.length];
            for (int i = 0; i < n; i++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++)
                        for (int ch = 0; ch < c; ch++)
                            x[((i * c + ch) * h + y) * w + xx] = (data[((i * h + y) * w + xx) * c + ch] & 0xFF) / 127.5f - 1f;
            nchw[0] = n;
            nchw[1] = c;
            nchw[2] = h;
            nchw[3] = w;
            return x;
        }

        public float[] floats() {
            if (!descr.equals("<f4")) throw new IllegalStateException("array is " + descr + ", not <f4");
            float[] f = new float[data.length / 4];
            ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
            return f;
        }
    }

    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']+)'");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /** Reads a version 1/2 .npy of C-order data (for tests and tools). */
    public static Array read(Path file) throws IOException {
        try (InputStream raw = Files.newInputStream(file); DataInputStream in = new DataInputStream(raw)) {
            byte[] magic = in.readNBytes(8);
            if (magic.length < 8 || (magic[0] & 0xFF) != 0x93 || !new String(magic, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY"))
                throw new IOException(file + " is not a .npy file");
            int major = magic[6];
            byte[] lenBytes = in.readNBytes(major == 1 ? 2 : 4);
            ByteBuffer lb = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN);
            int hlen = major == 1 ? Short.toUnsignedInt(lb.getShort()) : lb.getInt();
            String h = new String(in.readNBytes(hlen), StandardCharsets.US_ASCII);
            if (h.contains("'fortran_order': True")) throw new IOException(file + ": Fortran order is not supported");
            Matcher d = DESCR.matcher(h), s = SHAPE.matcher(h);
            if (!d.find() || !s.find()) throw new IOException(file + ": bad .npy header " + h.trim());
            List<Integer> dims = new ArrayList<>();
            for (String part : s.group(1).split(",")) if (!part.isBlank()) dims.add(Integer.parseInt(part.trim()));
            int[] shape = dims.stream().mapToInt(Integer::intValue).toArray();
            return new Array(d.group(1), shape, in.readAllBytes());
        }
    }
}
