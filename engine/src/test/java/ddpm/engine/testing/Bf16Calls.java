package ddpm.engine.testing;

import ddpm.engine.BFloat16;
import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.FusedOps;
import ddpm.engine.Ops;
import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Every backend primitive (and fused op) called as a bf16-autocast network calls it: activations
 * and their gradients in the activation dtype (F32 or BF16), parameters, their gradients and
 * statistics (group-norm mean/rstd, attention's log-sum-exp) in F32. The same call with
 * activations F32 and with activations BF16 sees the same values (inputs are drawn already
 * rounded to bfloat16), so a BF16 run can be held against the F32 run rounded, and against
 * another backend's BF16 run. Odd shapes throughout; one call runs an elementwise op in place.
 */
public final class Bf16Calls {
    private Bf16Calls() {}

    /** One primitive call; {@link #run} returns its outputs. */
    public record Call(String name, Consumer<Ctx> body) {
        /** Runs the call with activations of dtype act; every tensor starts {@code offset} elements into
         *  its storage (a kernel that ignores a pointer's offset, or assumes alignment, shows). */
        public List<Tensor> run(Device device, DType act, int offset) {
            Ctx c = new Ctx(device, act, offset, name.hashCode());
            body.accept(c);
            return c.outs;
        }

        @Override public String toString() { return name; }
    }

    /** Makes a call's tensors: values from a generator seeded by the call's name, rounded to bfloat16. */
    public static final class Ctx {
        public final Backend b;
        final Device device;
        final DType act;
        final int offset;
        final Random r;
        final List<Tensor> outs = new ArrayList<>();

        Ctx(Device device, DType act, int offset, long seed) {
            this.device = device;
            this.act = act;
            this.offset = offset;
            this.b = Backends.get(device);
            this.r = new Random(seed);
        }

        /** An uninitialised tensor at {@link #offset} into its storage. */
        public Tensor empty(DType dtype, int... shape) {
            return Tensor.empty(dtype, device, Math.toIntExact(Shapes.numel(shape) + offset)).flatView(offset, shape);
        }

        private Tensor filled(DType dtype, double lo, double hi, int... shape) {
            double[] v = new double[(int) Shapes.numel(shape)];
            for (int i = 0; i < v.length; i++) v[i] = BFloat16.round((float) (lo + (hi - lo) * r.nextDouble()));
            Tensor t = empty(dtype, shape);
            b.write(t, v);
            return t;
        }

        /** An activation in (−1, 1). */
        public Tensor act(int... shape) { return filled(act, -1, 1, shape); }

        /** A positive activation in (0.5, 1.5). */
        public Tensor actPos(int... shape) { return filled(act, 0.5, 1.5, shape); }

        /** A float32 parameter in (−1, 1). */
        public Tensor param(int... shape) { return filled(DType.F32, -1, 1, shape); }

        /** A positive float32 parameter in (0.5, 1.5). */
        public Tensor paramPos(int... shape) { return filled(DType.F32, 0.5, 1.5, shape); }

        public Tensor ints(int bound, int n) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = r.nextInt(bound);
            Tensor t = empty(DType.I32, n);
            b.write(t, v);
            return t;
        }

        /** An output in the activation dtype (poisoned: an unwritten element shows). */
        public Tensor actOut(int... shape) { return out(poisoned(empty(act, shape))); }

        /** A float32 output (statistics, parameter gradients). */
        public Tensor statOut(int... shape) { return out(poisoned(empty(DType.F32, shape))); }

        /** An activation holding f32's values rounded to bfloat16 (a forward's output fed to its backward:
         *  the same values whatever the activation dtype). */
        public Tensor actLike(Tensor f32) {
            float[] v = b.readFloats(f32);
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) d[i] = BFloat16.round(v[i]);
            Tensor t = empty(act, f32.shape());
            b.write(t, d);
            return t;
        }

        /** Marks t as an output (read after the call) without poisoning it. */
        public Tensor out(Tensor t) {
            if (!outs.contains(t)) outs.add(t);
            return t;
        }

        private Tensor poisoned(Tensor t) {
            b.fill(t, Double.NaN);
            return t;
        }

        FusedOps fused() { return FusedOps.of(b); }
    }

    private static Call call(String name, Consumer<Ctx> body) { return new Call(name, body); }

    /** The catalogue. */
    public static List<Call> all() {
        List<Call> l = new ArrayList<>();
        l.add(call("unary SILU", c -> c.b.unary(Ops.Unary.SILU, c.act(3, 5, 7), c.actOut(3, 5, 7))));
        l.add(call("unary EXP in place", c -> {
            Tensor x = c.out(c.act(3, 5, 7));
            c.b.unary(Ops.Unary.EXP, x, x);
        }));
        l.add(call("unaryBackward TANH", c -> {
            Tensor x = c.act(4, 9), y = c.empty(DType.F32, 4, 9);
            c.b.unary(Ops.Unary.TANH, x, y);
            c.b.unaryBackward(Ops.Unary.TANH, x, c.actLike(y), c.act(4, 9), c.actOut(4, 9));
        }));
        l.add(call("binary MUL broadcast", c -> c.b.binary(Ops.Binary.MUL, c.act(3, 5, 7), c.act(5, 1), c.actOut(3, 5, 7))));
        l.add(call("binary ADD of a float32 parameter", c -> c.b.binary(Ops.Binary.ADD, c.act(3, 5, 7), c.param(7), c.actOut(3, 5, 7))));
        l.add(call("binary DIV flat", c -> c.b.binary(Ops.Binary.DIV, c.act(5, 11), c.actPos(5, 11), c.actOut(5, 11))));
        l.add(call("affine", c -> c.b.affine(c.act(37), 0.3, -1.7, c.actOut(37))));
        l.add(call("powScalar", c -> c.b.powScalar(c.actPos(37), 1.5, c.actOut(37))));
        l.add(call("clamp", c -> c.b.clamp(c.act(37), -0.4, 0.3, c.actOut(37))));
        l.add(call("where", c -> c.b.where(c.ints(2, 7), c.act(3, 7), c.act(7), c.actOut(3, 7))));
        l.add(call("reduce SUM", c -> c.b.reduce(Ops.Reduce.SUM, c.act(3, 37, 5), 3, 37, 5, c.actOut(3, 5))));
        l.add(call("reduce SUMSQ to float32", c -> c.b.reduce(Ops.Reduce.SUMSQ, c.act(3, 37, 5), 3, 37, 5, c.statOut(3, 5))));
        l.add(call("reduce MAX", c -> c.b.reduce(Ops.Reduce.MAX, c.act(3, 37, 5), 3, 37, 5, c.actOut(3, 5))));
        // long enough that a GPU splits them into chunks and reduces the partials
        l.add(call("reduce SUM of a long row", c -> c.b.reduce(Ops.Reduce.SUM, c.act(1, 9001, 1), 1, 9001, 1, c.actOut(1, 1))));
        l.add(call("reduce SUMSQ of long columns", c -> c.b.reduce(Ops.Reduce.SUMSQ, c.act(1, 301, 7), 1, 301, 7, c.actOut(1, 7))));
        l.add(call("permute", c -> c.b.permute(c.act(2, 3, 5, 7), new int[]{0, 2, 3, 1}, c.actOut(2, 5, 7, 3))));
        l.add(call("writeSlice", c -> {
            Tensor dst = c.out(c.act(3, 9, 5));
            c.b.writeSlice(c.act(3, 4, 5), dst, 1, 2);
        }));
        l.add(call("readSlice", c -> c.b.readSlice(c.act(3, 9, 5), c.actOut(3, 4, 5), 1, 3)));
        l.add(call("matmul by a float32 weight", c -> c.b.matmul(c.act(2, 5, 7), c.param(3, 7), c.actOut(2, 5, 3), false, true, 1, 0)));
        l.add(call("matmul accumulating", c -> {
            Tensor out = c.out(c.act(2, 7, 3));
            c.b.matmul(c.act(2, 5, 7), c.act(2, 5, 3), out, true, false, 0.5, 1);
        }));
        l.add(call("conv2d 3x3", c -> c.b.conv2d(c.act(2, 3, 9, 7), c.param(5, 3, 3, 3), c.param(5), c.actOut(2, 5, 9, 7), 1, 1)));
        l.add(call("conv2d stride 2", c -> c.b.conv2d(c.act(2, 3, 9, 7), c.param(4, 3, 3, 3), null, c.actOut(2, 4, 5, 4), 2, 1)));
        l.add(call("conv2dBackwardInput", c -> c.b.conv2dBackwardInput(c.act(2, 5, 9, 7), c.param(5, 3, 3, 3), c.actOut(2, 3, 9, 7), 1, 1)));
        l.add(call("conv2dBackwardWeight into float32", c -> c.b.conv2dBackwardWeight(c.act(2, 3, 9, 7), c.act(2, 5, 9, 7), c.statOut(5, 3, 3, 3), 1, 1)));
        l.add(call("groupNorm + SiLU", c -> c.b.groupNorm(c.act(2, 6, 5, 3), c.param(6), c.param(6), 3, 1e-5, true,
                c.actOut(2, 6, 5, 3), c.statOut(2, 3), c.statOut(2, 3))));
        l.add(call("groupNormBackward", c -> {
            Tensor x = c.act(2, 6, 5, 3), g = c.param(6), be = c.param(6), mean = c.statOut(2, 3), rstd = c.statOut(2, 3);
            c.b.groupNorm(x, g, be, 3, 1e-5, true, c.actOut(2, 6, 5, 3), mean, rstd);
            c.b.groupNormBackward(x, g, be, mean, rstd, 3, true, c.act(2, 6, 5, 3), c.actOut(2, 6, 5, 3), c.statOut(6), c.statOut(6));
        }));
        l.add(call("softmax", c -> c.b.softmax(c.act(5, 13), c.actOut(5, 13))));
        l.add(call("softmaxBackward", c -> {
            Tensor y = c.empty(DType.F32, 5, 13);
            c.b.softmax(c.act(5, 13), y);
            c.b.softmaxBackward(c.actLike(y), c.act(5, 13), c.actOut(5, 13));
        }));
        l.add(call("attention", c -> c.b.attention(c.act(2, 7, 8), c.act(2, 9, 8), c.act(2, 9, 6), 0.35, c.actOut(2, 7, 6), c.statOut(2, 7))));
        l.add(call("attentionBackward", c -> {
            Tensor q = c.act(2, 7, 8), k = c.act(2, 9, 8), v = c.act(2, 9, 6), o = c.empty(DType.F32, 2, 7, 6),
                    lse = c.empty(DType.F32, 2, 7);
            c.b.attention(q, k, v, 0.35, o, lse);
            c.b.attentionBackward(q, k, v, c.actLike(o), lse, c.act(2, 7, 6), 0.35, c.actOut(2, 7, 8), c.actOut(2, 9, 8), c.actOut(2, 9, 6));
        }));
        l.add(call("upsampleNearest2x", c -> c.b.upsampleNearest2x(c.act(2, 3, 5, 3), c.actOut(2, 3, 10, 6))));
        l.add(call("upsampleNearest2xBackward", c -> c.b.upsampleNearest2xBackward(c.act(2, 3, 10, 6), c.actOut(2, 3, 5, 3))));
        l.add(call("gather from a float32 table", c -> c.b.gather(c.param(11, 6), c.ints(11, 5), c.actOut(5, 6))));
        l.add(call("scatterAdd into a float32 table", c -> {
            Tensor table = c.out(c.param(11, 6));
            c.b.scatterAdd(c.act(5, 6), c.ints(11, 5), table);
        }));
        l.add(call("randUniform", c -> c.b.randUniform(c.actOut(3, 37), 17, 5)));
        l.add(call("randNormal", c -> c.b.randNormal(c.actOut(3, 37), 17, 5)));
        l.add(call("dropoutMask", c -> c.b.dropoutMask(c.actOut(3, 37), 0.3, 17, 5)));
        l.add(call("qSample", c -> c.fused().qSample(c.act(3, 2, 5), c.act(3, 2, 5), c.ints(10, 3), c.paramPos(10), c.paramPos(10), c.actOut(3, 2, 5))));
        l.add(call("posteriorStep", c -> c.fused().posteriorStep(c.act(3, 2, 5), c.act(3, 2, 5), c.act(3, 2, 5), c.ints(10, 3),
                c.paramPos(10), c.paramPos(10), c.paramPos(10), c.actOut(3, 2, 5))));
        l.add(call("ddimStep", c -> c.fused().ddimStep(c.act(3, 2, 5), c.act(3, 2, 5), c.act(3, 2, 5), c.ints(4, 3),
                c.paramPos(4, 5), 1.0, c.actOut(3, 2, 5))));
        l.add(call("conv2dAdd", c -> c.fused().conv2dAdd(c.act(2, 3, 9, 7), c.param(5, 3, 3, 3), c.param(5), c.act(2, 5),
                c.act(2, 5, 9, 7), c.actOut(2, 5, 9, 7), 1, 1)));
        l.add(call("groupNormSiluConv2dAdd", c -> c.fused().groupNormSiluConv2dAdd(c.act(2, 6, 9, 7), c.param(6), c.param(6), 3, 1e-5,
                c.param(5, 6, 3, 3), c.param(5), c.act(2, 5), null, c.actOut(2, 5, 9, 7), c.statOut(2, 3), c.statOut(2, 3), 1, 1)));
        return l;
    }
}
