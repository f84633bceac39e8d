package ddpm.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * An n-dimensional array on a device, contiguous row-major from {@link #offset()} of its storage,
 * with reverse-mode autograd. Reshape and slicing along the first axis are views (they share
 * storage); permute, other slices and concat copy. Tensors created inside a {@link Scope} are
 * released when it closes; others are released by {@link #close()}.
 *
 * <p>Elementwise, reduction and layout ops live here; layers (conv, norm, attention, the fused
 * diffusion ops) live in {@link F}. Every op's backward sits beside its forward.
 */
public class Tensor implements AutoCloseable {
    private final int[] shape;
    private final long numel;
    private final Storage storage;
    private final long offset;
    Scope owner;
    private boolean released;

    private boolean requiresGrad;
    private Tensor grad;
    private Node node;
    private String name;

    /** The recorded op that produced a tensor: its inputs and how to map the output's gradient to theirs. */
    public record Node(String op, Tensor[] inputs, Backward backward) {}

    /** Maps the gradient of an op's output to the gradients of its inputs (null where none needed). */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor gradOut);
    }

    protected Tensor(Storage storage, long offset, int[] shape) {
        Shapes.check(shape);
        this.shape = shape.clone();
        this.numel = Shapes.numel(shape);
        if (offset + numel > storage.length)
            throw new IllegalArgumentException("view " + Shapes.str(shape) + " at offset " + offset
                    + " exceeds storage of " + storage.length + " elements");
        this.storage = storage;
        this.offset = offset;
        storage.retain();
        Scope.register(this);
    }

    // ================================================================ creation
    /** Uninitialised tensor. */
    public static Tensor empty(DType dtype, Device device, int... shape) {
        Shapes.check(shape);
        Backend b = Backends.get(device);
        return new Tensor(b.allocate(dtype, Shapes.numel(shape)), 0, shape);
    }

    /** Uninitialised tensor on a given backend instance: for tests and tools that drive a backend
     *  that is not the one registered for its device (e.g. a CUDA backend over another driver). */
    public static Tensor empty(Backend backend, DType dtype, int... shape) {
        Shapes.check(shape);
        return new Tensor(backend.allocate(dtype, Shapes.numel(shape)), 0, shape);
    }

    public static Tensor full(DType dtype, Device device, double value, int... shape) {
        Tensor t = empty(dtype, device, shape);
        t.backend().fill(t, value);
        return t;
    }

    public static Tensor zeros(DType dtype, Device device, int... shape) { return full(dtype, device, 0, shape); }

    public static Tensor zeros(int... shape) { return zeros(DType.F32, Device.getDefault(), shape); }

    public static Tensor ones(int... shape) { return full(DType.F32, Device.getDefault(), 1, shape); }

    public static Tensor full(double value, int... shape) { return full(DType.F32, Device.getDefault(), value, shape); }

    /** A float32 scalar (shape []) on the default device. */
    public static Tensor scalar(double value) { return full(DType.F32, Device.getDefault(), value); }

    public static Tensor of(float[] data, int... shape) { return of(data, Device.getDefault(), shape); }

    public static Tensor of(float[] data, Device device, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.F32, device, shape);
        t.backend().write(t, data);
        return t;
    }

    /** A float64 tensor (CPU reference checks and gradient checks). */
    public static Tensor of(double[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.F64, Device.CPU, shape);
        t.backend().write(t, data);
        return t;
    }

    public static Tensor ofDoubles(DType dtype, Device device, double[] data, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(dtype, device, shape);
        t.backend().write(t, data);
        return t;
    }

    /** An int32 index tensor (timesteps, labels). */
    public static Tensor ofInts(int[] data, Device device, int... shape) {
        checkLength(data.length, shape);
        Tensor t = empty(DType.I32, device, shape);
        t.backend().write(t, data);
        return t;
    }

    private static void checkLength(int length, int[] shape) {
        if (length != Shapes.numel(shape))
            throw new IllegalArgumentException(length + " values do not fill shape " + Shapes.str(shape)
                    + " (" + Shapes.numel(shape) + " elements)");
    }

    public static Tensor randn(Rng rng, DType dtype, Device device, int... shape) {
        Tensor t = empty(dtype, device, shape);
        t.backend().randNormal(t, rng.seed(), rng.next(t.numel));
        return t;
    }

    public static Tensor randn(Rng rng, int... shape) { return randn(rng, DType.F32, Device.getDefault(), shape); }

    public static Tensor rand(Rng rng, DType dtype, Device device, int... shape) {
        Tensor t = empty(dtype, device, shape);
        t.backend().randUniform(t, rng.seed(), rng.next(t.numel));
        return t;
    }

    public static Tensor rand(Rng rng, int... shape) { return rand(rng, DType.F32, Device.getDefault(), shape); }

    /** An uninitialised tensor of the same dtype and device. */
    public Tensor emptyLike(int... newShape) { return empty(dtype(), device(), newShape); }

    public Tensor zerosLike() { return zeros(dtype(), device(), shape); }

    // ================================================================ accessors
    public int[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    public int dim(int axis) { return shape[Shapes.axis(axis, shape, "dim")]; }

    public long numel() { return numel; }

    public DType dtype() { return storage.dtype; }

    public Device device() { return storage.device(); }

    public Storage storage() { live(); return storage; }

    public long offset() { return offset; }

    public Backend backend() { live(); return storage.backend; }

    public String name() { return name; }

    public Tensor named(String n) { this.name = n; return this; }

    public boolean isReleased() { return released; }

    public String describe() {
        return (name != null ? "'" + name + "' " : "") + dtype().name().toLowerCase() + Shapes.str(shape)
                + (device().isCpu() ? "" : " on " + device());
    }

    @Override public String toString() {
        if (released) return "Tensor(" + describe() + ", released)";
        if (numel <= 16 && dtype() != DType.I32) return "Tensor(" + describe() + " " + Arrays.toString(toDoubles()) + ")";
        return "Tensor(" + describe() + ")";
    }

    private void live() {
        if (released)
            throw new IllegalStateException("tensor " + describe() + " was used after it was released"
                    + " (its scope closed, or close() was called); keep results with Scope.keep(...)");
    }

    // ================================================================ host I/O
    public float[] toFloats() { return backend().readFloats(this); }

    public double[] toDoubles() { return backend().readDoubles(this); }

    public int[] toInts() { return backend().readInts(this); }

    /** The value of a one-element tensor. */
    public double item() {
        if (numel != 1) throw new IllegalArgumentException("item() needs one element, tensor is " + describe());
        return toDoubles()[0];
    }

    /** Copies into another device (or returns this when already there). Differentiable. */
    public Tensor to(Device device) {
        if (device.equals(device())) return this;
        Tensor out = empty(dtype(), device, shape);
        if (dtype() == DType.F64) out.backend().write(out, toDoubles());
        else if (dtype() == DType.I32) out.backend().write(out, toInts());
        else out.backend().write(out, toFloats());
        Device from = device();
        return record("to", out, g -> new Tensor[]{g.to(from)}, this);
    }

    /** A copy converted to another dtype (same device). Differentiable between floating types. */
    public Tensor to(DType dtype) {
        if (dtype == dtype()) return this;
        Tensor out = empty(dtype, device(), shape);
        backend().copy(this, out);
        DType from = dtype();
        return record("cast", out, g -> new Tensor[]{g.to(from)}, this);
    }

    /** A fresh copy that shares nothing with this one and records no graph. */
    public Tensor copy() {
        Tensor out = emptyLike(shape);
        backend().copy(this, out);
        return out;
    }

    /** Overwrites this tensor's elements with src's (same numel); not recorded by autograd. */
    public Tensor copyFrom(Tensor src) {
        sameDevice("copyFrom", this, src);
        if (src.numel != numel)
            throw new IllegalArgumentException("copyFrom: " + src.describe() + " into " + describe() + ": sizes differ");
        backend().copy(src, this);
        return this;
    }

    /** Overwrites this tensor's elements with host values (converted to its dtype); not recorded by autograd. */
    public Tensor copyFrom(float[] values) {
        checkLength(values.length, shape);
        backend().write(this, values);
        return this;
    }

    /** Overwrites this tensor's elements with host values (converted to its dtype); not recorded by autograd. */
    public Tensor copyFrom(double[] values) {
        checkLength(values.length, shape);
        backend().write(this, values);
        return this;
    }

    /** Overwrites this tensor's elements with host ints (converted to its dtype); not recorded by autograd. */
    public Tensor copyFrom(int[] values) {
        checkLength(values.length, shape);
        backend().write(this, values);
        return this;
    }

    public Tensor fill(double v) { backend().fill(this, v); return this; }

    // ================================================================ memory
    /** Drops this tensor's hold on its storage; the storage is freed when no view holds it. */
    public void release() {
        if (released) return;
        released = true;
        node = null;
        storage.releaseRef();
    }

    @Override public void close() { release(); }

    // ================================================================ autograd
    public boolean requiresGrad() { return requiresGrad; }

    /** Marks a leaf as needing a gradient (parameters). */
    public Tensor requiresGrad(boolean on) {
        if (node != null && !on) throw new IllegalStateException("cannot clear requiresGrad of a non-leaf; use detach()");
        this.requiresGrad = on;
        return this;
    }

    public Tensor grad() { return grad; }

    /** Uses {@code g} (for example a view into a flat gradient buffer) as this leaf's gradient. */
    public void setGrad(Tensor g) {
        if (g != null && !Arrays.equals(g.shape, shape))
            throw new IllegalArgumentException("setGrad: gradient " + g.describe() + " for " + describe());
        this.grad = g;
    }

    /** Zeros the accumulated gradient in place (keeping its buffer). */
    public void zeroGrad() { if (grad != null) grad.fill(0); }

    public Node gradNode() { return node; }

    public boolean isLeaf() { return node == null; }

    /** The same storage, cut from the graph. */
    public Tensor detach() { live(); return new Tensor(storage, offset, shape); }

    /** Backpropagates from a one-element tensor, accumulating into the leaves' {@link #grad()}. */
    public void backward() {
        if (numel != 1) throw new IllegalArgumentException("backward() needs a scalar, got " + describe()
                + "; pass a gradient with backward(grad)");
        backward(full(dtype(), device(), 1, shape));
    }

    /** Backpropagates {@code gradOut} (shape of this tensor). */
    public void backward(Tensor gradOut) {
        if (!requiresGrad) throw new IllegalStateException("backward: " + describe() + " does not require grad"
                + " (no input required grad, or it was computed under Grad.noGrad())");
        if (!Arrays.equals(gradOut.shape, shape) || gradOut.dtype() != dtype() || !gradOut.device().equals(device()))
            throw new IllegalArgumentException("backward: gradient " + gradOut.describe() + " for " + describe()
                    + ": shape, dtype and device must match");
        gradOut.live();
        List<Tensor> order = topoOrder();
        Map<Tensor, Tensor> grads = new IdentityHashMap<>();
        grads.put(this, gradOut);
        boolean anomaly = Grad.anomalyDetection();
        try (Grad.Guard ignored = Grad.noGrad()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = grads.remove(t);
                if (g == null) continue;
                if (t.node == null) { accumulateLeaf(t, g); continue; }
                Tensor[] ins = t.node.inputs;
                Tensor[] gs = t.node.backward.apply(g);
                for (int k = 0; k < ins.length; k++) {
                    Tensor in = ins[k];
                    if (in == null || !in.requiresGrad || gs[k] == null) continue;
                    Tensor gk = gs[k];
                    if (!Arrays.equals(gk.shape, in.shape))
                        throw new IllegalStateException("backward of '" + t.node.op + "' gave " + gk.describe()
                                + " for input " + in.describe());
                    // a gradient has its tensor's dtype: an op that met F32 and BF16 may have made it in the other
                    if (gk.dtype() != in.dtype()) gk = gk.to(in.dtype());
                    if (anomaly) checkFinite(gk, "backward of '" + t.node.op + "' (gradient of input " + k + ")");
                    Tensor prev = grads.get(in);
                    grads.put(in, prev == null ? gk : prev.add(gk));
                }
                // free this gradient now unless it is still pending as some tensor's gradient (an op
                // like add passes it on unchanged, possibly to several inputs) or is the caller's
                if (g != gradOut && !grads.containsValue(g)) g.release();
            }
        }
    }

    private void accumulateLeaf(Tensor leaf, Tensor g) {
        if (leaf.grad == null) {
            Tensor acc = g.copy();
            Scope.disown(acc);
            if (leaf.owner != null) leaf.owner.adopt(acc);
            leaf.grad = acc;
        } else {
            leaf.grad.backend().binary(Ops.Binary.ADD, leaf.grad, g, leaf.grad);
        }
    }

    private List<Tensor> topoOrder() {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[]{this, 0});
        seen.put(this, true);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Tensor t = (Tensor) top[0];
            int next = (int) top[1];
            Tensor[] ins = t.node == null ? new Tensor[0] : t.node.inputs;
            if (next < ins.length) {
                top[1] = next + 1;
                Tensor in = ins[next];
                if (in != null && in.requiresGrad && seen.put(in, true) == null) stack.push(new Object[]{in, 0});
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }

    /** Attaches a graph node to a fresh result when grad mode is on and an input requires grad. */
    public static Tensor record(String op, Tensor out, Backward backward, Tensor... inputs) {
        if (Grad.anomalyDetection()) checkFinite(out, "op '" + op + "'");
        if (!Grad.enabled()) return out;
        for (Tensor in : inputs) {
            if (in != null && in.requiresGrad) {
                out.requiresGrad = true;
                out.node = new Node(op, inputs, backward);
                return out;
            }
        }
        return out;
    }

    static void checkFinite(Tensor t, String what) {
        if (!t.dtype().isFloating()) return;
        double[] v = t.toDoubles();
        for (int i = 0; i < v.length; i++)
            if (!Double.isFinite(v[i]))
                throw new ArithmeticException(what + " produced " + v[i] + " at flat index " + i + " of " + t.describe());
    }

    /** Throws naming the op and devices when tensors sit on different devices. */
    public static void sameDevice(String op, Tensor... ts) {
        Device d = null;
        for (Tensor t : ts) {
            if (t == null) continue;
            t.live();
            if (d == null) d = t.device();
            else if (!d.equals(t.device())) {
                StringBuilder sb = new StringBuilder(op + ": tensors on different devices:");
                for (Tensor u : ts) if (u != null) sb.append(' ').append(u.describe()).append(" on ").append(u.device()).append(';');
                throw new IllegalArgumentException(sb + " copy one with .to(device)");
            }
        }
    }

    /**
     * The dtype of an elementwise result of a and b: theirs when they agree; F32 when F32 meets
     * BF16 (the wider wins, as PyTorch promotes); throws naming them otherwise.
     */
    static DType promote(String op, Tensor a, Tensor b) {
        if (a.dtype() == b.dtype()) return a.dtype();
        if (a.dtype().isFloat32Math() && b.dtype().isFloat32Math()) return DType.F32;
        throw new IllegalArgumentException(op + ": dtypes differ: " + a.describe() + " and " + b.describe()
                + "; convert one with .to(DType)");
    }

    // ================================================================ elementwise
    private Tensor binary(Ops.Binary op, Tensor b) {
        String name = op.name().toLowerCase();
        sameDevice(name, this, b);
        DType dtype = promote(name, this, b);
        int[] outShape = Shapes.broadcast(shape, b.shape, name);
        Tensor out = empty(dtype, device(), outShape);
        backend().binary(op, this, b, out);
        return out;
    }

    public Tensor add(Tensor b) {
        Tensor a = this;
        return record("add", binary(Ops.Binary.ADD, b), g -> new Tensor[]{g.sumTo(a.shape), g.sumTo(b.shape)}, a, b);
    }

    public Tensor sub(Tensor b) {
        Tensor a = this;
        return record("sub", binary(Ops.Binary.SUB, b), g -> new Tensor[]{g.sumTo(a.shape), g.neg().sumTo(b.shape)}, a, b);
    }

    public Tensor mul(Tensor b) {
        Tensor a = this;
        return record("mul", binary(Ops.Binary.MUL, b),
                g -> new Tensor[]{a.requiresGrad ? g.mul(b).sumTo(a.shape) : null,
                        b.requiresGrad ? g.mul(a).sumTo(b.shape) : null}, a, b);
    }

    public Tensor div(Tensor b) {
        Tensor a = this;
        return record("div", binary(Ops.Binary.DIV, b),
                g -> new Tensor[]{a.requiresGrad ? g.div(b).sumTo(a.shape) : null,
                        b.requiresGrad ? g.mul(a).div(b.square()).neg().sumTo(b.shape) : null}, a, b);
    }

    /** Elementwise maximum; the gradient goes to a where a ≥ b, else to b. */
    public Tensor maximum(Tensor b) {
        Tensor a = this;
        return record("maximum", binary(Ops.Binary.MAX, b), g -> {
            Tensor mask = a.compare(Ops.Binary.GE, b);
            return new Tensor[]{g.mul(mask).sumTo(a.shape), g.sub(g.mul(mask)).sumTo(b.shape)};
        }, a, b);
    }

    /** Elementwise comparison giving 1 or 0 (not differentiable). */
    public Tensor compare(Ops.Binary op, Tensor b) {
        switch (op) {
            case LT, LE, GT, GE, EQ -> { }
            default -> throw new IllegalArgumentException("compare: " + op + " is not a comparison");
        }
        return binary(op, b);
    }

    public Tensor lt(double v) { return compare(Ops.Binary.LT, scalarLike(v)); }

    public Tensor gt(double v) { return compare(Ops.Binary.GT, scalarLike(v)); }

    /** A one-element tensor of this dtype and device. */
    public Tensor scalarLike(double v) { return full(dtype(), device(), v); }

    /** x·scale + shift. */
    public Tensor affine(double scale, double shift) {
        Tensor out = emptyLike(shape);
        backend().affine(this, scale, shift, out);
        return record("affine", out, g -> new Tensor[]{g.affine(scale, 0)}, this);
    }

    public Tensor add(double s) { return affine(1, s); }

    public Tensor mul(double s) { return affine(s, 0); }

    public Tensor sub(double s) { return affine(1, -s); }

    public Tensor div(double s) { return affine(1 / s, 0); }

    public Tensor pow(double p) {
        Tensor x = this;
        Tensor out = emptyLike(shape);
        backend().powScalar(this, p, out);
        return record("pow", out, g -> new Tensor[]{g.mul(x.pow(p - 1).mul(p))}, this);
    }

    public Tensor clamp(double lo, double hi) {
        Tensor x = this;
        Tensor out = emptyLike(shape);
        backend().clamp(this, lo, hi, out);
        return record("clamp", out, g -> {
            Tensor inside = x.compare(Ops.Binary.GE, x.scalarLike(lo)).mul(x.compare(Ops.Binary.LE, x.scalarLike(hi)));
            return new Tensor[]{g.mul(inside)};
        }, this);
    }

    /** cond ≠ 0 ? a : b with broadcasting; differentiable in a and b. */
    public static Tensor where(Tensor cond, Tensor a, Tensor b) {
        sameDevice("where", cond, a, b);
        DType dtype = promote("where", a, b);
        int[] s = Shapes.broadcast(Shapes.broadcast(cond.shape, a.shape, "where"), b.shape, "where");
        Tensor out = empty(dtype, a.device(), s);
        a.backend().where(cond, a, b, out);
        return record("where", out, g -> {
            Tensor zero = g.scalarLike(0);
            return new Tensor[]{null, where(cond, g, zero).sumTo(a.shape), where(cond, zero, g).sumTo(b.shape)};
        }, null, a, b);
    }

    private Tensor unary(Ops.Unary op) {
        Tensor x = this;
        Tensor out = emptyLike(shape);
        backend().unary(op, this, out);
        return record(op.name().toLowerCase(), out, g -> {
            Tensor gx = g.emptyLike(x.shape);
            g.backend().unaryBackward(op, x, out, g, gx);
            return new Tensor[]{gx};
        }, this);
    }

    public Tensor neg() { return unary(Ops.Unary.NEG); }
    public Tensor exp() { return unary(Ops.Unary.EXP); }
    public Tensor log() { return unary(Ops.Unary.LOG); }
    public Tensor sqrt() { return unary(Ops.Unary.SQRT); }
    public Tensor rsqrt() { return unary(Ops.Unary.RSQRT); }
    public Tensor square() { return unary(Ops.Unary.SQUARE); }
    public Tensor abs() { return unary(Ops.Unary.ABS); }
    public Tensor silu() { return unary(Ops.Unary.SILU); }
    public Tensor sigmoid() { return unary(Ops.Unary.SIGMOID); }
    public Tensor tanh() { return unary(Ops.Unary.TANH); }
    public Tensor relu() { return unary(Ops.Unary.RELU); }
    public Tensor sin() { return unary(Ops.Unary.SIN); }
    public Tensor cos() { return unary(Ops.Unary.COS); }

    // ================================================================ reductions
    private Tensor reduceAxes(Ops.Reduce op, boolean keepDim, int... axes) {
        String opName = op.name().toLowerCase();
        boolean[] reduce = new boolean[shape.length];
        if (axes.length == 0) Arrays.fill(reduce, true);
        for (int a : axes) {
            int n = Shapes.axis(a, shape, opName);
            if (reduce[n]) throw new IllegalArgumentException(opName + ": axis " + a + " repeated in " + Arrays.toString(axes));
            reduce[n] = true;
        }
        Tensor cur = this;
        int[] cs = shape.clone();
        // reduce each maximal run of adjacent axes as the middle of an [outer, n, inner] view, last run first
        for (int end = cs.length - 1; end >= 0; ) {
            if (!reduce[end]) { end--; continue; }
            int start = end;
            while (start > 0 && reduce[start - 1]) start--;
            int outer = 1, n = 1, inner = 1;
            for (int i = 0; i < start; i++) outer *= cs[i];
            for (int i = start; i <= end; i++) n *= cs[i];
            for (int i = end + 1; i < cs.length; i++) inner *= cs[i];
            int[] ns = cs.clone();
            for (int i = start; i <= end; i++) ns[i] = 1;
            Tensor next = emptyLike(ns);
            backend().reduce(op, cur, outer, n, inner, next);
            if (cur != this) cur.release();
            cur = next;
            cs = ns;
            end = start - 1;
        }
        if (cur == this) cur = copy();
        if (!keepDim) {
            int[] kept = new int[shape.length];
            int k = 0;
            for (int i = 0; i < shape.length; i++) if (!reduce[i]) kept[k++] = shape[i];
            Tensor r = cur.rawView(Arrays.copyOf(kept, k));
            cur.release();
            cur = r;
        }
        return cur;
    }

    /** Sum over the given axes (all when none), dropping them. */
    public Tensor sum(int... axes) { return sum(false, axes); }

    public Tensor sum(boolean keepDim, int... axes) {
        Tensor x = this;
        Tensor out = reduceAxes(Ops.Reduce.SUM, keepDim, axes);
        return record("sum", out, g -> new Tensor[]{g.reshape(keptShape(x.shape, axes)).expand(x.shape)}, this);
    }

    public Tensor mean(int... axes) { return mean(false, axes); }

    public Tensor mean(boolean keepDim, int... axes) {
        double count = numel / (double) Shapes.numel(keptShape(shape, axes));
        return sum(keepDim, axes).mul(1.0 / count);
    }

    private static int[] keptShape(int[] shape, int[] axes) {
        int[] s = shape.clone();
        if (axes.length == 0) Arrays.fill(s, 1);
        for (int a : axes) s[Shapes.axis(a, shape, "reduce")] = 1;
        return s;
    }

    /** Maximum over the given axes; the gradient is shared among tied maxima. */
    public Tensor max(boolean keepDim, int... axes) {
        Tensor x = this;
        Tensor out = reduceAxes(Ops.Reduce.MAX, keepDim, axes);
        return record("max", out, g -> {
            int[] ks = keptShape(x.shape, axes);
            Tensor mask = x.compare(Ops.Binary.EQ, out.rawView(ks));
            Tensor count = mask.reduceAxes(Ops.Reduce.SUM, true, axes);
            return new Tensor[]{mask.mul(g.rawView(ks).div(count))};
        }, this);
    }

    /** Σx² over all elements, as a one-element tensor (not differentiable; for gradient norms). */
    public Tensor sumSquares() {
        if (numel > Integer.MAX_VALUE)
            throw new IllegalArgumentException("sumSquares: " + describe() + " has more than 2^31-1 elements");
        Tensor out = emptyLike();
        backend().reduce(Ops.Reduce.SUMSQ, this, 1, (int) numel, 1, out);
        return out;
    }

    /** Sums a broadcast gradient back down to {@code target} (numpy broadcasting reversed). */
    public Tensor sumTo(int[] target) {
        if (Arrays.equals(shape, target)) return this;
        int lead = shape.length - target.length;
        boolean ok = true;
        for (int i = 0; ok && i < target.length; i++)   // target axes left of this rank must be 1
            ok = i + lead < 0 ? target[i] == 1 : target[i] == shape[i + lead] || target[i] == 1;
        if (!ok)
            throw new IllegalArgumentException("sumTo: " + describe() + " does not broadcast from " + Shapes.str(target)
                    + ", so it cannot be summed down to it");
        List<Integer> axes = new ArrayList<>();
        for (int i = 0; i < shape.length; i++)
            if (i < lead || (i - lead < target.length && target[i - lead] == 1 && shape[i] != 1)) axes.add(i);
        if (axes.isEmpty()) return reshape(target);   // only size-1 axes differ; sum() of no axes would sum all
        Tensor s = sum(true, axes.stream().mapToInt(Integer::intValue).toArray());
        return s.reshape(target);
    }

    /** Broadcast copy to {@code target}. */
    public Tensor expand(int... target) {
        if (Arrays.equals(shape, target)) return this;
        int[] s = Shapes.broadcast(shape, target, "expand");
        if (!Arrays.equals(s, target))
            throw new IllegalArgumentException("expand: " + describe() + " cannot expand to " + Shapes.str(target));
        Tensor x = this;
        Tensor out = emptyLike(target);
        Tensor zero = scalarLike(0);
        backend().binary(Ops.Binary.ADD, this, zero, out);
        zero.release();
        return record("expand", out, g -> new Tensor[]{g.sumTo(x.shape)}, this);
    }

    // ================================================================ layout
    /** A view with another shape (one -1 entry is inferred). */
    public Tensor reshape(int... newShape) {
        int[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + Shapes.str(newShape));
                infer = i;
            } else known *= s[i];
        }
        if (infer >= 0) {
            if (known == 0 || numel % known != 0)
                throw new IllegalArgumentException("reshape: cannot reshape " + describe() + " to " + Shapes.str(newShape));
            s[infer] = (int) (numel / known);
        }
        if (Shapes.numel(s) != numel)
            throw new IllegalArgumentException("reshape: cannot reshape " + describe() + " (" + numel
                    + " elements) to " + Shapes.str(newShape));
        if (Arrays.equals(s, shape)) return this;
        Tensor x = this;
        return record("reshape", rawView(s), g -> new Tensor[]{g.reshape(x.shape)}, this);
    }

    /** A view sharing storage, outside autograd. */
    private Tensor rawView(int[] s) { live(); return new Tensor(storage, offset, s); }

    /** A view of elements [start, start + numel(shape)) of this tensor's flat data (flat buffers). */
    public Tensor flatView(long start, int... viewShape) {
        live();
        if (start < 0 || start + Shapes.numel(viewShape) > numel)
            throw new IllegalArgumentException("flatView: " + Shapes.str(viewShape) + " at " + start + " exceeds " + describe());
        return new Tensor(storage, offset + start, viewShape);
    }

    public Tensor flatten() { return reshape(-1); }

    public Tensor permute(int... perm) {
        if (perm.length != shape.length)
            throw new IllegalArgumentException("permute: " + Arrays.toString(perm) + " does not fit rank " + shape.length + " of " + describe());
        int[] p = new int[perm.length];
        boolean[] used = new boolean[perm.length];
        int[] s = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
            p[i] = Shapes.axis(perm[i], shape, "permute");
            if (used[p[i]]) throw new IllegalArgumentException("permute: axis repeated in " + Arrays.toString(perm));
            used[p[i]] = true;
            s[i] = shape[p[i]];
        }
        Tensor out = emptyLike(s);
        backend().permute(this, p, out);
        int[] inv = new int[p.length];
        for (int i = 0; i < p.length; i++) inv[p[i]] = i;
        return record("permute", out, g -> new Tensor[]{g.permute(inv)}, this);
    }

    public Tensor transpose(int a, int b) {
        int[] p = new int[shape.length];
        for (int i = 0; i < p.length; i++) p[i] = i;
        int x = Shapes.axis(a, shape, "transpose"), y = Shapes.axis(b, shape, "transpose");
        p[x] = y;
        p[y] = x;
        return permute(p);
    }

    /** Elements [start, end) along {@code axis} (a copy). */
    public Tensor slice(int axis, int start, int end) {
        int a = Shapes.axis(axis, shape, "slice");
        if (start < 0 || end > shape[a] || start > end)
            throw new IllegalArgumentException("slice: [" + start + ", " + end + ") out of range for axis " + axis
                    + " of " + describe());
        int[] s = shape.clone();
        s[a] = end - start;
        Tensor out = emptyLike(s);
        backend().readSlice(this, out, a, start);
        Tensor x = this;
        return record("slice", out, g -> {
            Tensor gx = x.zerosLike();
            gx.backend().writeSlice(g, gx, a, start);
            return new Tensor[]{gx};
        }, this);
    }

    /** Joins tensors along {@code axis}; all other axes must agree. */
    public static Tensor concat(int axis, Tensor... ts) {
        if (ts.length == 0) throw new IllegalArgumentException("concat: no tensors");
        sameDevice("concat", ts);
        int[] s = ts[0].shape.clone();
        int a = Shapes.axis(axis, s, "concat");
        int total = 0;
        DType dtype = ts[0].dtype();
        for (Tensor t : ts) {
            if (promote("concat", ts[0], t) != ts[0].dtype()) dtype = DType.F32;   // BF16 parts with an F32 one
            boolean ok = t.shape.length == s.length;
            for (int i = 0; ok && i < s.length; i++) ok = i == a || t.shape[i] == s[i];
            if (!ok) {
                StringBuilder sb = new StringBuilder();
                for (Tensor u : ts) sb.append(' ').append(Shapes.str(u.shape));
                throw new IllegalArgumentException("concat along axis " + axis + ": shapes differ off that axis:" + sb);
            }
            total += t.shape[a];
        }
        s[a] = total;
        Tensor out = empty(dtype, ts[0].device(), s);
        int[] starts = new int[ts.length];
        int at = 0;
        for (int i = 0; i < ts.length; i++) {
            starts[i] = at;
            out.backend().writeSlice(ts[i], out, a, at);
            at += ts[i].shape[a];
        }
        return record("concat", out, g -> {
            Tensor[] gs = new Tensor[ts.length];
            for (int i = 0; i < ts.length; i++) {
                if (!ts[i].requiresGrad) continue;
                gs[i] = ts[i].emptyLike(ts[i].shape);
                g.backend().readSlice(g, gs[i], a, starts[i]);
            }
            return gs;
        }, ts);
    }

    // ================================================================ matmul
    /**
     * Matrix product: [M,K]·[K,N], or batched [B,M,K]·[B,K,N] where either batch may be 1
     * (or the operand rank 2) and broadcasts.
     */
    public Tensor matmul(Tensor b) { return matmul(b, false, false); }

    /** Matrix product with either operand transposed in its last two axes. F32 and BF16 operands
     *  may meet (a BF16 activation times an F32 weight): the result has the left operand's dtype. */
    public Tensor matmul(Tensor b, boolean transA, boolean transB) {
        Tensor a = this;
        sameDevice("matmul", a, b);
        if (a.dtype() != b.dtype()) promote("matmul", a, b);
        if (a.rank() < 2 || a.rank() > 3 || b.rank() < 2 || b.rank() > 3)
            throw new IllegalArgumentException("matmul: operands must have rank 2 or 3, got " + a.describe() + " and " + b.describe());
        int m = transA ? a.dim(-1) : a.dim(-2), ka = transA ? a.dim(-2) : a.dim(-1);
        int kb = transB ? b.dim(-1) : b.dim(-2), n = transB ? b.dim(-2) : b.dim(-1);
        int ba = a.rank() == 3 ? a.dim(0) : 1, bb = b.rank() == 3 ? b.dim(0) : 1;
        if (ka != kb || (ba != bb && ba != 1 && bb != 1))
            throw new IllegalArgumentException("matmul: shapes " + Shapes.str(a.shape) + (transA ? "ᵀ" : "") + " and "
                    + Shapes.str(b.shape) + (transB ? "ᵀ" : "") + " do not multiply (inner " + ka + " vs " + kb
                    + ", batch " + ba + " vs " + bb + ")");
        int batch = Math.max(ba, bb);
        int[] os = a.rank() == 3 || b.rank() == 3 ? new int[]{batch, m, n} : new int[]{m, n};
        Tensor out = emptyLike(os);
        backend().matmul(a, b, out, transA, transB, 1, 0);
        return record("matmul", out, g -> {
            Tensor ga = null, gb = null;
            if (a.requiresGrad) {
                // dA = g·Bᵀ (or B·gᵀ when A was transposed), summed over a broadcast batch
                Tensor full = transA ? b.matmul(g, transB, true) : g.matmul(b, false, !transB);
                ga = a.rank() == 2 && full.rank() == 3 ? full.sum(0) : full.sumTo(a.shape);
            }
            if (b.requiresGrad) {
                Tensor full = transB ? g.matmul(a, true, transA) : a.matmul(g, !transA, false);
                gb = b.rank() == 2 && full.rank() == 3 ? full.sum(0) : full.sumTo(b.shape);
            }
            return new Tensor[]{ga, gb};
        }, a, b);
    }
}
