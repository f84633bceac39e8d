package ddpm.bench.ab;

import ddpm.bench.StepBench;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.F;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.engine.cpu.Parallel;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * StepBench's train and sample steps (same model, batch, schedule, optimiser) timed by the
 * calling thread's CPU clock and the wall clock, for A/B comparisons on a shared machine (see
 * {@link CpuTime}). Arguments: config (tiny, small, cifar10), repetitions, threads (1: all work on
 * the timed thread). One line per step: {@code step config cpuMs wallMs} (medians); with
 * {@code -Dalloc=true} also the bytes allocated and the GC time of each step on stderr; {@code -Dwarm} warm-up
 * steps (4) before the timed ones.
 *
 * <p>It uses only long-standing APIs and computes its own schedule tables (as StepBench does):
 * {@code bench/cpu-ab.sh} compiles it against older trees too.
 */
public final class StepTime {
    private StepTime() {}

    static long gcMs() {
        long t = 0;
        for (GarbageCollectorMXBean g : ManagementFactory.getGarbageCollectorMXBeans()) t += Math.max(0, g.getCollectionTime());
        return t;
    }

    static long allocated() {
        var m = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long s = 0;
        for (long id : m.getAllThreadIds()) s += Math.max(0, m.getThreadAllocatedBytes(id));
        return s;
    }

    public static void main(String[] a) {
        String config = a[0];
        int reps = a.length > 1 ? Integer.parseInt(a[1]) : 5, threads = a.length > 2 ? Integer.parseInt(a[2]) : 1;
        Parallel.setThreads(threads);
        UNetConfig c = StepBench.unetConfig(config);
        int tb = StepBench.batch("cpu", config, true), sb = StepBench.batch("cpu", config, false), T = 1000, r = c.resolution;
        UNet model = new UNet(c, Device.CPU, 0);
        Adam adam = new Adam(model);
        Ema ema = new Ema(model);
        Rng rng = new Rng(3);
        Tensor x0 = Tensor.rand(rng, tb, c.inChannels, r, r), xs = Tensor.randn(rng, sb, c.inChannels, r, r);
        float[] ab = new float[T], s1 = new float[T], k1 = new float[T], k2 = new float[T], sg = new float[T];
        double acc = 1;
        for (int i = 0; i < T; i++) {
            double beta = 1e-4 + (0.02 - 1e-4) * i / (T - 1);
            acc *= 1 - beta;
            ab[i] = (float) Math.sqrt(acc);
            s1[i] = (float) Math.sqrt(1 - acc);
            k1[i] = (float) (1 / Math.sqrt(1 - beta));
            k2[i] = (float) (beta / Math.sqrt(1 - acc));
            sg[i] = (float) Math.sqrt(beta);
        }
        Tensor A = Tensor.of(ab, T), S = Tensor.of(s1, T), C1 = Tensor.of(k1, T), C2 = Tensor.of(k2, T), SG = Tensor.of(sg, T);
        Runnable train = () -> {
            model.train(true);
            try (Scope s = Scope.open()) {
                int[] ts = new int[tb];
                for (int i = 0; i < tb; i++) ts[i] = rng.nextInt(T);
                Tensor t = Tensor.ofInts(ts, Device.CPU, tb), eps = Tensor.randn(rng, DType.F32, Device.CPU, x0.shape());
                Tensor loss = F.mseLoss(model.forward(F.qSample(x0, eps, t, A, S), t), eps);
                model.zeroGrad();
                loss.backward();
                adam.step(2e-4, GradClip.compute(model.flatGrads(), 1.0).scale());
                ema.update();
            }
        };
        Runnable sample = () -> {
            model.eval();
            try (Grad.Guard ng = Grad.noGrad(); Scope s = Scope.open()) {
                int[] ts = new int[sb];
                Arrays.fill(ts, 500);
                Tensor t = Tensor.ofInts(ts, Device.CPU, sb);
                F.posteriorStep(xs, model.forward(xs, t), Tensor.randn(rng, DType.F32, Device.CPU, xs.shape()), t, C1, C2, SG);
            }
        };
        var mx = ManagementFactory.getThreadMXBean();
        for (String name : new String[]{"train", "sample"}) {
            Runnable step = name.equals("train") ? train : sample;
            for (int i = 0, w = Integer.getInteger("warm", 4); i < w; i++) step.run();
            double[] cpu = new double[reps], wall = new double[reps];
            for (int i = 0; i < reps; i++) {
                long c0 = mx.getCurrentThreadCpuTime(), w0 = System.nanoTime(), al0 = allocated(), gc0 = gcMs();
                step.run();
                cpu[i] = (mx.getCurrentThreadCpuTime() - c0) / 1e6;
                wall[i] = (System.nanoTime() - w0) / 1e6;
                if (Boolean.getBoolean("alloc"))
                    System.err.printf("%s allocated %.0f MB, gc %d ms%n", name, (allocated() - al0) / 1e6, gcMs() - gc0);
            }
            Arrays.sort(cpu);
            Arrays.sort(wall);
            System.out.printf("%s %s %.1f %.1f%n", name, config, cpu[reps / 2], wall[reps / 2]);
        }
        ema.close();
        adam.close();
        model.close();
    }
}
