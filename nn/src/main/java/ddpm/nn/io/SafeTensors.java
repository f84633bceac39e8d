package ddpm.nn.io;

import ddpm.engine.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N
 * bytes of UTF-8 JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (byte offsets into the data section) plus an optional "__metadata__" map of strings, then the
 * raw little-endian data. The header is padded with spaces to a multiple of 8 bytes.
 *
 * <p>Writing goes to a temporary file in the target's directory which is then atomically renamed
 * over the target, so a crash never leaves a half-written file under the target name.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** Largest header accepted when reading (guards against garbage lengths). */
    static final long MAX_HEADER = 100L << 20;

    /** A host-side tensor to write: {@code data} is a float[], double[] or int[] holding numel(shape) values from {@code offset}. */
    public record HostTensor(String name, DType dtype, int[] shape, Object data, int offset) {
        public long numel() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    /** One header entry. */
    public record Entry(String name, String dtype, int[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    /** A parsed header: entries in file order, the metadata, and where the data section starts. */
    public record Header(Map<String, Entry> entries, Map<String, String> metadata, long dataStart, long fileSize) {}

    public static String dtypeName(DType t) {
        return switch (t) {
            case F32 -> "F32";
            case F64 -> "F64";
            case I32 -> "I32";
            case BF16 -> "BF16";
            case F16 -> "F16";
        };
    }

    static int bytesOf(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    // ---------------------------------------------------------------- writing
    /** Writes {@code tensors} (in order) and {@code metadata} to {@code path}, atomically. */
    public static void write(Path path, List<HostTensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long at = 0;
        for (HostTensor t : tensors) {
            if (t.name().equals("__metadata__") || header.containsKey(t.name()))
                throw new IllegalArgumentException("safetensors: duplicate or reserved tensor name '" + t.name() + "'");
            long bytes = t.numel() * t.dtype().bytes;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", dtypeName(t.dtype()));
            e.put("shape", t.shape());
            e.put("data_offsets", new long[]{at, at + bytes});
            header.put(t.name(), e);
            at += bytes;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] hdr = Arrays.copyOf(json, padded);
        Arrays.fill(hdr, json.length, padded, (byte) ' ');

        Path abs = path.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                buf.putLong(padded);
                putBytes(ch, buf, hdr);
                for (HostTensor t : tensors) putData(ch, buf, t);
                flush(ch, buf);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {  // a file system without atomic rename
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) ch.write(buf);
        buf.clear();
    }

    private static void room(FileChannel ch, ByteBuffer buf, int n) throws IOException {
        if (buf.remaining() < n) flush(ch, buf);
    }

    private static void putBytes(FileChannel ch, ByteBuffer buf, byte[] b) throws IOException {
        int i = 0;
        while (i < b.length) {
            room(ch, buf, 1);
            int n = Math.min(buf.remaining(), b.length - i);
            buf.put(b, i, n);
            i += n;
        }
    }

    private static void putData(FileChannel ch, ByteBuffer buf, HostTensor t) throws IOException {
        int n = Math.toIntExact(t.numel()), o = t.offset();
        Object d = t.data();
        switch (t.dtype()) {
            case F32 -> {
                float[] a = (float[]) d;
                for (int i = 0; i < n; ) {
                    room(ch, buf, 4);
                    int k = Math.min(buf.remaining() / 4, n - i);
                    buf.asFloatBuffer().put(a, o + i, k);
                    buf.position(buf.position() + 4 * k);
                    i += k;
                }
            }
            case F64 -> {
                double[] a = (double[]) d;
                for (int i = 0; i < n; ) {
                    room(ch, buf, 8);
                    int k = Math.min(buf.remaining() / 8, n - i);
                    buf.asDoubleBuffer().put(a, o + i, k);
                    buf.position(buf.position() + 8 * k);
                    i += k;
                }
            }
            case I32 -> {
                int[] a = (int[]) d;
                for (int i = 0; i < n; ) {
                    room(ch, buf, 4);
                    int k = Math.min(buf.remaining() / 4, n - i);
                    buf.asIntBuffer().put(a, o + i, k);
                    buf.position(buf.position() + 4 * k);
                    i += k;
                }
            }
            default -> throw new IllegalArgumentException("safetensors: writing " + t.dtype() + " is not supported");
        }
    }

    // ---------------------------------------------------------------- reading
    /** Reads and validates the header: every entry's dtype, shape and byte range, and the file length. */
    public static Header readHeader(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException(path + ": not a safetensors file (only " + size + " bytes; truncated?)");
            ByteBuffer lb = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lb, 0);
            long n = lb.getLong(0);
            if (n <= 0 || n > MAX_HEADER) throw new CheckpointException(path + ": not a safetensors file (header length " + n + ")");
            if (8 + n > size) throw new CheckpointException(path + ": truncated: the header needs " + n + " bytes but the file has only " + (size - 8) + " after the length");
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            String json = new String(hb.array(), StandardCharsets.UTF_8);
            Map<String, Object> root;
            try {
                root = Json.parseObject(json.strip());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(path + ": corrupt safetensors header: " + e.getMessage());
            }
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, Entry> entries = new LinkedHashMap<>();
            List<String> problems = new ArrayList<>();
            long maxEnd = 0, covered = 0;
            for (Map.Entry<String, Object> e : root.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    if (!(e.getValue() instanceof Map<?, ?> m)) { problems.add("__metadata__ is not an object"); continue; }
                    for (Map.Entry<?, ?> me : m.entrySet()) {
                        if (!(me.getValue() instanceof String s)) problems.add("metadata '" + me.getKey() + "' is not a string");
                        else meta.put((String) me.getKey(), s);
                    }
                    continue;
                }
                try {
                    Entry en = entry(e.getKey(), e.getValue());
                    int eb = bytesOf(en.dtype());
                    if (eb < 0) problems.add("'" + en.name() + "': unknown dtype " + en.dtype());
                    else if (en.end() - en.begin() != en.numel() * eb)
                        problems.add("'" + en.name() + "': data_offsets [" + en.begin() + ", " + en.end() + "] hold " + (en.end() - en.begin())
                                + " bytes but " + en.dtype() + Arrays.toString(en.shape()) + " needs " + en.numel() * eb);
                    maxEnd = Math.max(maxEnd, en.end());
                    covered += en.end() - en.begin();
                    entries.put(en.name(), en);
                } catch (RuntimeException ex) {
                    problems.add("'" + e.getKey() + "': " + ex.getMessage());
                }
            }
            if (!problems.isEmpty())
                throw new CheckpointException(path + ": corrupt safetensors header:\n  " + String.join("\n  ", problems));
            long dataStart = 8 + n, data = size - dataStart;
            if (data < maxEnd)
                throw new CheckpointException(path + ": truncated: the header describes " + maxEnd + " bytes of tensor data but the file holds only "
                        + data + " (" + size + " bytes in all)");
            if (data > maxEnd || covered != maxEnd)
                throw new CheckpointException(path + ": corrupt: the tensors cover " + covered + " bytes of a " + data + "-byte data section");
            return new Header(Collections.unmodifiableMap(entries), Collections.unmodifiableMap(meta), dataStart, size);
        }
    }

    private static Entry entry(String name, Object v) {
        if (!(v instanceof Map<?, ?> m)) throw new IllegalArgumentException("entry is not an object");
        Object dt = m.get("dtype"), sh = m.get("shape"), off = m.get("data_offsets");
        if (!(dt instanceof String dts)) throw new IllegalArgumentException("missing dtype");
        if (!(sh instanceof List<?> shl)) throw new IllegalArgumentException("missing shape");
        if (!(off instanceof List<?> ol) || ol.size() != 2) throw new IllegalArgumentException("missing data_offsets");
        int[] shape = new int[shl.size()];
        for (int i = 0; i < shape.length; i++) {
            long d = ((Number) shl.get(i)).longValue();
            if (d < 0 || d > Integer.MAX_VALUE) throw new IllegalArgumentException("bad dimension " + d);
            shape[i] = (int) d;
        }
        long b = ((Number) ol.get(0)).longValue(), e = ((Number) ol.get(1)).longValue();
        if (b < 0 || e < b) throw new IllegalArgumentException("bad data_offsets [" + b + ", " + e + "]");
        return new Entry(name, dts, shape, b, e);
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos + b.position());
            if (r < 0) throw new CheckpointException("unexpected end of file (truncated?)");
        }
    }

    /** Reads entry {@code e} (F32) into dst[offset ...]. */
    public static void readFloats(Path path, Header h, Entry e, float[] dst, int offset) throws IOException {
        if (!e.dtype().equals("F32")) throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected F32");
        read(path, h, e, (bb, done, k) -> bb.asFloatBuffer().get(dst, offset + done, k), 4);
    }

    /** Reads entry {@code e} (F64) into dst[offset ...]. */
    public static void readDoubles(Path path, Header h, Entry e, double[] dst, int offset) throws IOException {
        if (!e.dtype().equals("F64")) throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected F64");
        read(path, h, e, (bb, done, k) -> bb.asDoubleBuffer().get(dst, offset + done, k), 8);
    }

    /** Reads entry {@code e} (I32) into dst[offset ...]. */
    public static void readInts(Path path, Header h, Entry e, int[] dst, int offset) throws IOException {
        if (!e.dtype().equals("I32")) throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected I32");
        read(path, h, e, (bb, done, k) -> bb.asIntBuffer().get(dst, offset + done, k), 4);
    }

    private interface Sink { void take(ByteBuffer bb, int done, int k); }

    private static void read(Path path, Header h, Entry e, Sink sink, int eb) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            read(ch, h, e, sink, eb, null);
        }
    }

    /** Streams entry {@code e} through {@code sink} in chunks; {@code crc} (when given) sees the raw bytes first. */
    private static void read(FileChannel ch, Header h, Entry e, Sink sink, int eb, CRC32 crc) throws IOException {
        long n = e.numel();
        ByteBuffer bb = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        long pos = h.dataStart() + e.begin();
        int done = 0;
        while (done < n) {
            int k = (int) Math.min(bb.capacity() / eb, n - done);
            bb.clear().limit(k * eb);
            readFully(ch, bb, pos);
            bb.flip();
            if (crc != null) crc.update(bb.duplicate());
            sink.take(bb, done, k);
            done += k;
            pos += (long) k * eb;
        }
    }

    /** The CRC-32 (zlib's, {@code zlib.crc32} in Python) of a tensor's little-endian bytes, as 8 hex digits. */
    public static String crc32(HostTensor t) {
        CRC32 crc = new CRC32();
        ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        int n = Math.toIntExact(t.numel()), o = t.offset(), eb = t.dtype().bytes;
        for (int i = 0; i < n; ) {
            buf.clear();
            int k = Math.min(buf.capacity() / eb, n - i);
            switch (t.dtype()) {
                case F32 -> buf.asFloatBuffer().put((float[]) t.data(), o + i, k);
                case F64 -> buf.asDoubleBuffer().put((double[]) t.data(), o + i, k);
                case I32 -> buf.asIntBuffer().put((int[]) t.data(), o + i, k);
                default -> throw new IllegalArgumentException("safetensors: " + t.dtype() + " is not supported");
            }
            crc.update(buf.array(), 0, k * eb);
            i += k;
        }
        return hex(crc.getValue());
    }

    static String hex(long crc) { return String.format("%08x", crc); }

    /**
     * Reads many entries through one open channel, each into its array at its offset: float[]
     * targets take F32, or F16, BF16 and F64 converted to float; double[] take F64; int[] take I32.
     * When {@code crc32} is given (tensor name → 8 hex digits, as {@link #crc32} writes), every
     * entry's bytes are checked against it and the first mismatch is a {@link CheckpointException}
     * naming the tensor.
     */
    public static void readAll(Path path, Header h, List<Entry> entries, List<Object> arrays, int[] offsets,
                               Map<String, String> crc32) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            for (int i = 0; i < entries.size(); i++) {
                Entry e = entries.get(i);
                Object a = arrays.get(i);
                int off = offsets[i];
                CRC32 crc = crc32 == null ? null : new CRC32();
                if (a instanceof float[] f) {
                    switch (e.dtype()) {
                        case "F32" -> read(ch, h, e, (bb, done, k) -> bb.asFloatBuffer().get(f, off + done, k), 4, crc);
                        case "F64" -> read(ch, h, e, (bb, done, k) -> {
                            for (int j = 0; j < k; j++) f[off + done + j] = (float) bb.getDouble(8 * j);
                        }, 8, crc);
                        case "F16" -> read(ch, h, e, (bb, done, k) -> {
                            for (int j = 0; j < k; j++) f[off + done + j] = halfToFloat(bb.getShort(2 * j));
                        }, 2, crc);
                        case "BF16" -> read(ch, h, e, (bb, done, k) -> {
                            for (int j = 0; j < k; j++) f[off + done + j] = Float.intBitsToFloat(bb.getShort(2 * j) << 16);
                        }, 2, crc);
                        default -> throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected a floating-point tensor");
                    }
                } else if (a instanceof double[] d) {
                    if (!e.dtype().equals("F64")) throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected F64");
                    read(ch, h, e, (bb, done, k) -> bb.asDoubleBuffer().get(d, off + done, k), 8, crc);
                } else if (a instanceof int[] iv) {
                    if (!e.dtype().equals("I32")) throw new CheckpointException("'" + e.name() + "' is " + e.dtype() + ", expected I32");
                    read(ch, h, e, (bb, done, k) -> bb.asIntBuffer().get(iv, off + done, k), 4, crc);
                } else throw new IllegalArgumentException("unsupported array " + a);
                if (crc != null) {
                    String want = crc32.get(e.name()), got = hex(crc.getValue());
                    if (!got.equals(want))
                        throw new CheckpointException(path + " is corrupt: tensor '" + e.name() + "' does not match its checksum (CRC-32 "
                                + got + ", the file says " + want + "): its data changed after it was written");
                }
            }
        }
    }

    /** IEEE 754 binary16 → float (exact; JDK 17 has no Float.float16ToFloat). */
    static float halfToFloat(short bits) {
        int h = bits & 0xffff, sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));          // Inf / NaN
        if (exp != 0) return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));    // normal
        float v = mant * 0x1p-24f;                                                            // subnormal or zero
        return sign != 0 ? -v : v;
    }
}
