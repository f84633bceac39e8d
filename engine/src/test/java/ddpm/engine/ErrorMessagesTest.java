package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.Random;
import java.util.function.Supplier;

import static ddpm.engine.testing.Reference.*;
import static org.junit.jupiter.api.Assertions.*;

/** Every misuse is an exception whose message names the shapes, values or tensors involved. */
class ErrorMessagesTest {
    private final Random r = new Random(13);

    private static void says(Class<? extends Throwable> type, Runnable action, String... parts) {
        Throwable e = assertThrows(type, action::run);
        for (String p : parts)
            assertTrue(e.getMessage() != null && e.getMessage().contains(p), "message should contain '" + p + "': " + e.getMessage());
    }

    private static void says(Supplier<?> action, String... parts) { says(IllegalArgumentException.class, action::get, parts); }

    /** A tensor on a device with no real backend: a proxy that only knows its device. */
    private static Tensor onFakeGpu(int... shape) {
        Backend fake = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, m, args) -> {
                    if (m.getName().equals("device")) return Device.cuda(3);
                    if (m.getName().equals("toString")) return "fake cuda:3";
                    throw new UnsupportedOperationException(m.getName() + " on a fake device");
                });
        Storage st = new Storage(fake, DType.F32, Shapes.numel(shape)) { @Override protected void free() {} };
        return new Tensor(st, 0, shape) {};
    }

    @Test void shapeMismatches() {
        try (Scope s = Scope.open()) {
            Tensor a = randn64(r, 3, 4);
            says(() -> a.add(randn64(r, 5)), "add", "[3, 4]", "[5]", "4 vs 5");
            says(() -> a.mul(randn64(r, 2, 1, 5)), "mul", "[3, 4]", "[2, 1, 5]");
            says(() -> a.matmul(randn64(r, 5, 2)), "matmul", "[3, 4]", "[5, 2]", "inner 4 vs 5");
            says(() -> randn64(r, 2, 3, 4).matmul(randn64(r, 3, 4, 2)), "batch 2 vs 3");
            says(() -> randn64(r, 4).matmul(a), "rank 2 or 3", "f64[4]");
            says(() -> F.conv2d(randn64(r, 1, 3, 5, 5), randn64(r, 2, 4, 3, 3), null, 1, 1), "conv2d", "3 channels", "[2, 4, 3, 3]");
            says(() -> F.conv2d(randn64(r, 1, 3, 5, 5), randn64(r, 2, 3, 3, 2), null, 1, 1), "square", "[2, 3, 3, 2]");
            says(() -> F.conv2d(randn64(r, 1, 3, 2, 2), randn64(r, 2, 3, 5, 5), null, 1, 0), "[1, 3, 2, 2]", "kernel 5");
            says(() -> F.conv2d(randn64(r, 1, 3, 5, 5), randn64(r, 2, 3, 3, 3), null, 0, 1), "stride 0");
            says(() -> F.conv2d(randn64(r, 1, 3, 5, 5), randn64(r, 2, 3, 3, 3), randn64(r, 3), 1, 1), "bias", "[3]", "[2]");
            says(() -> F.conv2d(randn64(r, 3, 5, 5), randn64(r, 2, 3, 3, 3), null, 1, 1), "rank 4", "[3, 5, 5]");
            says(() -> F.mseLoss(a, randn64(r, 4, 3)), "[3, 4]", "[4, 3]");
            says(() -> a.copyFrom(randn64(r, 5)), "copyFrom", "[5]", "[3, 4]");
            says(() -> Tensor.of(new double[5], 2, 3), "5 values", "[2, 3]", "6");
            says(() -> Tensor.zeros(2, -1), "negative", "[2, -1]");
            says(() -> a.item(), "item", "[3, 4]");
            says(() -> a.expand(3, 5), "[3, 4]", "[3, 5]");
        }
    }

    @Test void badAxes() {
        try (Scope s = Scope.open()) {
            Tensor a = randn64(r, 3, 4);
            says(() -> a.sum(2), "sum", "axis 2", "[3, 4]");
            says(() -> a.sum(-3), "axis -3", "[3, 4]", "-2..1");
            says(() -> a.sum(1, -1), "repeated", "[1, -1]");
            says(() -> a.max(false, 5), "max", "axis 5");
            says(() -> a.dim(2), "axis 2", "[3, 4]");
            says(() -> a.transpose(0, 2), "transpose", "axis 2");
            says(() -> a.permute(1, 2), "permute", "axis 2");
            says(() -> a.slice(-3, 0, 1), "slice", "axis -3");
            says(() -> Tensor.concat(2, a, a), "concat", "axis 2");
            says(() -> Tensor.scalar(1).sum(0), "axis 0", "[]");
        }
    }

    @Test void mixedDTypes() {
        try (Scope s = Scope.open()) {
            Tensor a = randn64(r, 3), b = toF32(a);
            says(() -> a.add(b), "dtypes differ", "f64[3]", "f32[3]");
            says(() -> a.matmul(toF32(randn64(r, 3, 2)).reshape(3, 2)), "matmul", "f64");
            says(() -> F.conv2d(randn64(r, 1, 1, 3, 3), toF32(randn64(r, 1, 1, 3, 3)), null, 1, 1), "conv2d", "f32[1, 1, 3, 3]", "f64[1, 1, 3, 3]");
            says(() -> Tensor.where(a, a, b), "where", "f32");
        }
    }

    @Test void mixedDevices() {
        try (Scope s = Scope.open()) {
            Tensor cpu = Tensor.zeros(2, 3), gpu = onFakeGpu(2, 3);
            assertEquals(Device.cuda(3), gpu.device());
            says(() -> cpu.add(gpu), "different devices", "cpu", "cuda:3", "[2, 3]");
            says(() -> cpu.matmul(onFakeGpu(3, 2)), "matmul", "cuda:3");
            says(() -> F.conv2d(Tensor.zeros(1, 1, 3, 3), onFakeGpu(1, 1, 3, 3), null, 1, 0), "conv2d", "cuda:3", "cpu");
            says(() -> Tensor.concat(0, cpu, gpu), "concat", "cuda:3");
            says(() -> F.attention(Tensor.zeros(1, 2, 2), Tensor.zeros(1, 2, 2), onFakeGpu(1, 2, 2), 1), "attention", "cuda:3");
            says(() -> F.qSample(cpu, cpu, Tensor.ofInts(new int[]{0, 0}, Device.CPU, 2), onFakeGpu(4), Tensor.zeros(4)), "qSample", "cuda:3");
            says(() -> cpu.copyFrom(gpu), "copyFrom", "cuda:3");
            says(IllegalStateException.class, () -> Backends.get(Device.cuda(0)), "cuda:0");
            says(() -> Device.parse("tpu"), "tpu");
            says(() -> Device.cuda(-1), "-1");
        }
    }

    @Test void useAfterRelease() {
        Tensor t = randn64(r, 2, 5).named("weights");
        Tensor u = randn64(r, 2, 5);
        t.close();
        says(IllegalStateException.class, () -> t.add(u), "'weights'", "[2, 5]", "released");
        says(IllegalStateException.class, () -> u.add(t), "'weights'", "released");
        says(IllegalStateException.class, () -> t.exp(), "'weights'");
        says(IllegalStateException.class, () -> t.sum(), "'weights'");
        says(IllegalStateException.class, () -> F.softmax(t), "'weights'");
        Tensor one = Tensor.of(new double[]{1}).named("loss");
        one.close();
        says(IllegalStateException.class, () -> one.item(), "'loss'", "released");
        u.close();
    }

    @Test void invalidValues() {
        try (Scope s = Scope.open()) {
            Tensor x = randn64(r, 2, 4, 3);
            says(() -> F.groupNorm(x, randn64(r, 4), randn64(r, 4), 3, 1e-5, false), "4 channels", "3 groups");
            says(() -> F.groupNorm(x, randn64(r, 4), randn64(r, 4), 0, 1e-5, false), "0 groups");
            says(() -> F.dropout(x, 1.5, new Rng(0), true), "1.5");
            says(() -> x.reshape(5, -1), "[5, -1]", "[2, 4, 3]");
            says(() -> new Rng(0).nextInt(-2), "-2");
            says(() -> x.flatView(20, 5), "[5]", "20");
            says(() -> x.slice(0, 1, 3), "[1, 3)", "[2, 4, 3]");
        }
    }
}
