package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A node of a module tree, like {@code torch.nn.Module}: named parameters, buffers and children,
 * with hierarchical names ({@code down.0.conv1.weight}; own parameters first, then children in
 * registration order, as PyTorch orders {@code named_parameters()}).
 *
 * <p>Construction only <em>declares</em> parameters. {@link #build} on the root then allocates ONE
 * flat parameter buffer and ONE flat gradient buffer (as llm.c does) and makes every parameter a
 * view into the first, with its gradient ({@link Tensor#setGrad}) a view into the second; so zeroing
 * gradients, the gradient norm, Adam and EMA are each one primitive call over a flat buffer.
 * Each parameter starts at a multiple of {@link #ALIGN} elements; the few padding elements between
 * parameters stay zero (their gradient is zero, so Adam and EMA leave them at zero).
 * Built tensors belong to no {@link Scope}; {@link #close()} on the root releases them.
 */
public abstract class Module implements AutoCloseable {
    /** Alignment of each parameter's start in the flat buffers, in elements (64 bytes in F32). */
    public static final int ALIGN = 16;

    private final Map<String, Module> children = new LinkedHashMap<>();
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Boolean> persistent = new LinkedHashMap<>();
    private boolean training = true;
    private boolean isChild;
    private Device device;
    private DType dtype;
    // root only, once built
    private Tensor flatParams, flatGrads;
    private List<Parameter> ordered;
    private boolean closed;

    // ================================================================ declaration
    /** Declares a parameter; its tensor exists once the root is built. */
    protected Parameter param(String name, Init init, int... shape) {
        checkName(name);
        if (isBuilt()) throw new IllegalStateException("cannot add parameter '" + name + "' to a built module");
        Parameter p = new Parameter(name, init, shape);
        params.put(name, p);
        return p;
    }

    /** Registers a child module under {@code name}. */
    protected <M extends Module> M child(String name, M m) {
        checkName(name);
        Module mm = m;
        if (mm.isBuilt() || mm.isChild)
            throw new IllegalArgumentException("module " + m.getClass().getSimpleName() + " is already built or"
                    + " part of another tree; a module can be registered once, before building");
        if (isBuilt()) throw new IllegalStateException("cannot add child '" + name + "' to a built module");
        mm.isChild = true;
        children.put(name, mm);
        return m;
    }

    /** Registers a buffer (from {@link #onBuild}); persistent ones appear in {@link #stateDict()}. */
    protected Tensor buffer(String name, Tensor t, boolean persist) {
        checkName(name);
        Scope.disown(t);
        Tensor old = buffers.put(name, t);
        if (old != null && old != t) old.release();
        persistent.put(name, persist);
        return t;
    }

    private void checkName(String name) {
        if (name == null || name.isEmpty() || name.contains("."))
            throw new IllegalArgumentException("bad module/parameter name '" + name + "'");
        if (params.containsKey(name) || children.containsKey(name) || buffers.containsKey(name))
            throw new IllegalArgumentException("name '" + name + "' is already used in " + getClass().getSimpleName());
    }

    /** Called on every module once device and dtype are known (after parameters exist): create buffers here. */
    protected void onBuild(Device device, DType dtype) {}

    // ================================================================ building
    /**
     * Allocates the flat buffers on {@code device} in {@code dtype} (F32, or F64 on the CPU for
     * gradient checks) and initialises every parameter in name order from {@code new Rng(seed)}.
     */
    public <M extends Module> M build(Device device, DType dtype, long seed) {
        if (isChild) throw new IllegalStateException("build the root module, not a child");
        if (isBuilt() || closed) throw new IllegalStateException(getClass().getSimpleName() + " is already built");
        if (!dtype.isFloating()) throw new IllegalArgumentException("parameters must be floating, got " + dtype);
        List<Parameter> list = new ArrayList<>();
        collect("", list);
        long total = 0;
        for (Parameter p : list) {
            total = align(total);
            p.flatOffset = total;
            total += p.numel();
        }
        if (total == 0) total = 1;  // a parameterless root still gets (tiny) buffers, so the API stays uniform
        try (Grad.Guard g = Grad.noGrad(); Scope scope = Scope.open()) {
            flatParams = Tensor.zeros(dtype, device, (int) checkedSize(total));
            flatGrads = Tensor.zeros(dtype, device, (int) total);
            Scope.disown(flatParams);
            Scope.disown(flatGrads);
            Rng rng = new Rng(seed);
            for (Parameter p : list) {
                Tensor v = flatParams.flatView(p.flatOffset, p.shape());
                Tensor gv = flatGrads.flatView(p.flatOffset, p.shape());
                Scope.disown(v);
                Scope.disown(gv);
                v.requiresGrad(true);
                v.setGrad(gv);
                v.named(p.fullName);
                p.value = v;
                initialise(p, v, rng);
            }
        }
        ordered = Collections.unmodifiableList(list);
        setBuilt(device, dtype);
        @SuppressWarnings("unchecked") M self = (M) this;
        return self;
    }

    private static long checkedSize(long total) {
        if (total > Integer.MAX_VALUE) throw new IllegalArgumentException("model too large for one flat buffer: " + total);
        return total;
    }

    static long align(long n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

    private static void initialise(Parameter p, Tensor v, Rng rng) {
        Init init = p.init();
        switch (init.kind()) {
            case ZEROS -> { }
            case CONSTANT -> v.fill(init.value());
            case FAN_AVG_UNIFORM -> {
                if (init.scale() == 0) return;
                double lim = init.limit();
                Tensor u = Tensor.rand(rng, v.dtype(), v.device(), p.shape());
                Tensor scaled = u.affine(2 * lim, -lim);  // U(0,1) → U(−lim, lim)
                v.copyFrom(scaled);
                scaled.release();
                u.release();
            }
        }
    }

    private void collect(String prefix, List<Parameter> out) {
        for (Parameter p : params.values()) {
            p.fullName = prefix + p.localName();
            out.add(p);
        }
        for (Map.Entry<String, Module> e : children.entrySet()) e.getValue().collect(prefix + e.getKey() + ".", out);
    }

    private void setBuilt(Device d, DType t) {
        device = d;
        dtype = t;
        for (Module c : children.values()) c.setBuilt(d, t);
        onBuild(d, t);
    }

    public boolean isBuilt() { return device != null; }

    public Device device() { requireBuilt(); return device; }

    public DType dtype() { requireBuilt(); return dtype; }

    protected void requireBuilt() {
        if (closed) throw new IllegalStateException(getClass().getSimpleName() + " was closed");
        if (device == null) throw new IllegalStateException(getClass().getSimpleName()
                + " is not built: call build(device, dtype, seed) on the root module");
    }

    // ================================================================ flat buffers (root)
    private void requireRoot(String what) {
        requireBuilt();
        if (flatParams == null) throw new IllegalStateException(what + ": only the root module owns the flat buffers");
    }

    /** All parameters, as one flat vector (parameters are views into it). */
    public Tensor flatParams() { requireRoot("flatParams"); return flatParams; }

    /** All parameter gradients, as one flat vector (each parameter's grad() is a view into it). */
    public Tensor flatGrads() { requireRoot("flatGrads"); return flatGrads; }

    /** Zeros every parameter gradient: one fill of the flat gradient buffer. */
    public void zeroGrad() { requireRoot("zeroGrad"); flatGrads.fill(0); }

    /**
     * Marks every parameter as needing a gradient (the default) or not: a frozen model still
     * backpropagates to its inputs but computes no parameter gradients (e.g. a classifier whose
     * input gradient alone is wanted).
     */
    public void requiresGrad(boolean on) {
        requireRoot("requiresGrad");
        for (Parameter p : ordered) p.get().requiresGrad(on);
    }

    /** Parameters in flat-buffer order (root, once built). */
    public List<Parameter> parameterSlots() { requireRoot("parameterSlots"); return ordered; }

    // ================================================================ introspection
    /** Number of parameter elements (padding excluded); works before building. */
    public long paramCount() {
        long n = 0;
        for (Parameter p : params.values()) n += p.numel();
        for (Module c : children.values()) n += c.paramCount();
        return n;
    }

    /** Parameter tensors by hierarchical name, in flat-buffer order. */
    public LinkedHashMap<String, Tensor> namedParameters() {
        requireBuilt();
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        namedParameters("", out);
        return out;
    }

    private void namedParameters(String prefix, Map<String, Tensor> out) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) out.put(prefix + e.getKey(), e.getValue().get());
        for (Map.Entry<String, Module> e : children.entrySet()) e.getValue().namedParameters(prefix + e.getKey() + ".", out);
    }

    public List<Tensor> parameters() { return new ArrayList<>(namedParameters().values()); }

    /** Parameter shapes by hierarchical name (before or after building). */
    public LinkedHashMap<String, int[]> parameterShapes() {
        LinkedHashMap<String, int[]> out = new LinkedHashMap<>();
        parameterShapes("", out);
        return out;
    }

    private void parameterShapes(String prefix, Map<String, int[]> out) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) out.put(prefix + e.getKey(), e.getValue().shape());
        for (Map.Entry<String, Module> e : children.entrySet()) e.getValue().parameterShapes(prefix + e.getKey() + ".", out);
    }

    /** Buffers by hierarchical name (persistent and not). */
    public LinkedHashMap<String, Tensor> namedBuffers() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        namedBuffers("", out, false);
        return out;
    }

    private void namedBuffers(String prefix, Map<String, Tensor> out, boolean persistentOnly) {
        for (Map.Entry<String, Tensor> e : buffers.entrySet())
            if (!persistentOnly || persistent.get(e.getKey())) out.put(prefix + e.getKey(), e.getValue());
        for (Map.Entry<String, Module> e : children.entrySet()) e.getValue().namedBuffers(prefix + e.getKey() + ".", out, persistentOnly);
    }

    /** Parameters then persistent buffers, by name (views, not copies): PyTorch's state_dict. */
    public LinkedHashMap<String, Tensor> stateDict() {
        LinkedHashMap<String, Tensor> out = namedParameters();
        namedBuffers("", out, true);
        return out;
    }

    /**
     * Copies {@code state} into this module's parameters and persistent buffers. Every missing,
     * unexpected, mis-shaped or mis-typed entry is reported in one exception, and nothing is copied
     * unless all entries match (strict), or all present ones match (non-strict: missing/unexpected allowed).
     */
    public void loadStateDict(Map<String, Tensor> state, boolean strict) {
        Map<String, Tensor> mine = stateDict();
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : mine.entrySet()) {
            Tensor src = state.get(e.getKey());
            if (src == null) { if (strict) problems.add("missing '" + e.getKey() + "'"); continue; }
            Tensor dst = e.getValue();
            if (!Arrays.equals(src.shape(), dst.shape()))
                problems.add("'" + e.getKey() + "': shape " + Shapes.str(src.shape()) + " but the model has " + Shapes.str(dst.shape()));
            else if (src.dtype() != dst.dtype())
                problems.add("'" + e.getKey() + "': dtype " + src.dtype() + " but the model has " + dst.dtype());
        }
        if (strict) for (String k : state.keySet()) if (!mine.containsKey(k)) problems.add("unexpected '" + k + "'");
        if (!problems.isEmpty())
            throw new IllegalArgumentException("loadStateDict: " + problems.size() + " mismatch(es):\n  " + String.join("\n  ", problems));
        try (Grad.Guard g = Grad.noGrad()) {
            for (Map.Entry<String, Tensor> e : mine.entrySet()) {
                Tensor src = state.get(e.getKey());
                if (src != null) e.getValue().copyFrom(src.device().equals(e.getValue().device()) ? src : src.to(e.getValue().device()));
            }
        }
    }

    public Map<String, Module> children() { return Collections.unmodifiableMap(children); }

    // ================================================================ modes
    /** Training mode on/off for this module and all below it (dropout is active only in training). */
    public Module train(boolean on) {
        training = on;
        for (Module c : children.values()) c.train(on);
        return this;
    }

    public Module eval() { return train(false); }

    public boolean isTraining() { return training; }

    /** Sets the random stream of every {@link Dropout} in the tree. */
    public void setDropoutRng(Rng rng) {
        if (this instanceof Dropout d) d.rng = rng;
        for (Module c : children.values()) c.setDropoutRng(rng);
    }

    // ================================================================ memory
    /** Releases the flat buffers, the parameter views and the buffers of the whole tree (root only). */
    @Override public void close() {
        if (closed) return;
        if (isChild) throw new IllegalStateException("close the root module, not a child");
        closed = true;
        releaseTree();
        if (flatParams != null) flatParams.release();
        if (flatGrads != null) flatGrads.release();
    }

    private void releaseTree() {
        for (Parameter p : params.values()) {
            if (p.value != null) {
                if (p.value.grad() != null) p.value.grad().release();
                p.value.release();
            }
        }
        for (Tensor b : buffers.values()) b.release();
        for (Module c : children.values()) c.releaseTree();
    }

    public boolean isClosed() { return closed; }

    @Override public String toString() {
        return getClass().getSimpleName() + "(" + paramCount() + " parameters)";
    }
}
