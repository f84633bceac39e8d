package ddpm.engine;

import java.util.Objects;

/** Where a tensor's storage lives: the CPU, or CUDA device {@code index}. */
public final class Device {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);
    private static volatile Device defaultDevice = CPU;

    public final Kind kind;
    public final int index;

    private Device(Kind kind, int index) { this.kind = kind; this.index = index; }

    public static Device cuda(int index) {
        if (index < 0) throw new IllegalArgumentException("CUDA device index must be >= 0, got " + index);
        return new Device(Kind.CUDA, index);
    }

    /** Parses "cpu", "cuda" or "cuda:N". */
    public static Device parse(String s) {
        String v = s.trim().toLowerCase();
        if (v.equals("cpu")) return CPU;
        if (v.equals("cuda") || v.equals("gpu")) return cuda(0);
        if (v.startsWith("cuda:")) {
            try { return cuda(Integer.parseInt(v.substring(5))); }
            catch (NumberFormatException e) { /* fall through */ }
        }
        throw new IllegalArgumentException("unknown device '" + s + "': expected cpu, cuda or cuda:N");
    }

    /** The device that factory methods use when none is named. */
    public static Device getDefault() { return defaultDevice; }

    public static void setDefault(Device d) { defaultDevice = Objects.requireNonNull(d); }

    public boolean isCpu() { return kind == Kind.CPU; }

    @Override public boolean equals(Object o) {
        return o instanceof Device d && d.kind == kind && d.index == index;
    }

    @Override public int hashCode() { return kind.hashCode() * 31 + index; }

    @Override public String toString() { return kind == Kind.CPU ? "cpu" : "cuda:" + index; }
}
