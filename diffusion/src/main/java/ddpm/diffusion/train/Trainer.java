package ddpm.diffusion.train;

import ddpm.diffusion.CudaGraphs;
import ddpm.diffusion.DdimSampler;
import ddpm.diffusion.DdpmSampler;
import ddpm.diffusion.EpsModel;
import ddpm.diffusion.GaussianDiffusion;
import ddpm.diffusion.Guidance;
import ddpm.diffusion.ProgressBar;
import ddpm.diffusion.Sampler;
import ddpm.diffusion.Schedule;
import ddpm.diffusion.UserError;
import ddpm.diffusion.data.BatchIterator;
import ddpm.diffusion.data.ImageDataset;
import ddpm.diffusion.data.Images;
import ddpm.engine.Backend;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.nn.UNet;
import ddpm.nn.UNetConfig;
import ddpm.nn.io.Checkpoint;
import ddpm.nn.optim.Adam;
import ddpm.nn.optim.AdamW;
import ddpm.nn.optim.Ema;
import ddpm.nn.optim.GradClip;
import ddpm.nn.optim.LinearWarmup;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Trains a DDPM (Algorithm 1 of Ho et al.) on an {@link ImageDataset}: per step one engine
 * {@link Scope} (so memory is the same every step), a batch from the seeded iterator (random
 * flips), labels with label dropout for class-conditional models, the configured loss, backward,
 * global-norm clipping, Adam with linear warmup, EMA update.
 *
 * <p>Around the steps: a progress line every {@code logEvery} steps (step, loss, grad norm, lr,
 * img/s, ETA) also appended to {@code train_log.csv}; a PNG grid sampled from the EMA weights
 * every {@code sampleEvery} steps; a checkpoint every {@code ckptEvery} steps, at the end, and on
 * Ctrl-C (a shutdown hook asks the loop to stop after the current step and waits for the save);
 * resumption from the run directory's latest checkpoint (model, EMA, Adam moments, step, RNG
 * streams and data position). The run directory is locked ({@link RunLock}) from construction to
 * {@link #close()}, so a second trainer on it is refused.
 *
 * <p>Where the backend records work, the step is recorded after the first and replayed from then on
 * (a CUDA graph: see {@link #record}). A step makes no host read: its loss and Σg² stay on the device, the clip factor is computed
 * by the Adam kernel from Σg², and the host reads the steps' losses and norms together when it
 * logs, previews, saves or stops ({@link #drain}). A non-finite gradient norm makes the Adam kernel
 * skip that step's update, so the parameters never take it; the next read stops training naming
 * the step, and no checkpoint is written after it, so the last good one stays.
 */
public final class Trainer implements AutoCloseable {
    /** How a run ended. */
    public record Result(long step, long stepsThisRun, boolean interrupted, double lastLoss, double imagesPerSecond,
                         Path lastCheckpoint) {}

    /** Training produced a non-finite loss or gradient. */
    public static final class DivergedException extends UserError {
        public final long step;

        DivergedException(String message, long step) {
            super(message);
            this.step = step;
        }
    }

    static final long SAMPLE_SALT = 0x5A3D1E_77L, LABEL_SALT = 0x1ABE1L;

    private final TrainConfig cfg;
    private final ImageDataset data;
    private final Path runDir;
    private final Device device;
    private final PrintStream log;
    private final UNet model;
    private final EpsModel eps;
    private final GaussianDiffusion diffusion;
    private final Adam opt;
    private final Ema ema;
    private final LinearWarmup lrSchedule;
    private final BatchIterator batches;
    private final RunLock lock;
    private Rng rng, labelRng;
    private long step;
    private Path lastCheckpoint;
    private volatile boolean stopRequested;
    private volatile boolean hookInstalled;

    /**
     * Builds the model for the data (resolution, channels and, when class-conditional, the number of
     * classes come from the data set), or resumes from {@code runDir}'s latest checkpoint.
     */
    public Trainer(TrainConfig cfg, ImageDataset data, Path runDir, Device device, PrintStream log) {
        this.cfg = cfg.validate();
        this.data = data;
        this.runDir = runDir;
        this.device = device;
        this.log = log;
        if (data.height() != data.width())
            throw new UserError("images must be square, " + data.name() + " has " + data.height() + "×" + data.width());
        if (cfg.classConditional && !data.hasLabels())
            throw new UserError("class-conditional training needs labels, and " + data.name() + " has none");
        this.lock = RunLock.acquire(runDir, log);   // before looking at the checkpoints: they are now ours
        Path resume = RunDir.latest(runDir);
        try {
            this.model = start(resume, modelConfigFor(cfg, data));
            if (cfg.bf16Activations) model.activations(ddpm.engine.DType.BF16);
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
        this.eps = model::forward;
        this.diffusion = new GaussianDiffusion(Schedule.named(cfg.schedule, cfg.timesteps), cfg.predict, cfg.variance);
        this.opt = cfg.weightDecay > 0 ? new AdamW(model, cfg.weightDecay) : new Adam(model);
        this.ema = new Ema(model, cfg.emaDecay);
        this.lrSchedule = new LinearWarmup(cfg.lr, cfg.warmup);
        this.batches = new BatchIterator(data, cfg.batch, cfg.seed, cfg.hflip);
        this.rng = new Rng(cfg.seed + 1);
        this.labelRng = new Rng(cfg.seed ^ LABEL_SALT);
        if (resume != null) resumeFrom(resume);
    }

    /** The model to train: the requested one, or the one of the checkpoint to resume from. */
    private UNet start(Path resume, UNetConfig mc) {
        if (resume != null) {
            try {
                UNetConfig saved = Checkpoint.readConfig(resume);
                List<String> diff = mc.differences(saved, false);
                if (!diff.isEmpty()) {
                    log.println("note: resuming with the model of " + resume.getFileName() + " (differs from the requested one: "
                            + String.join(", ", diff) + ")");
                    mc = saved;
                }
            } catch (IOException | RuntimeException e) {
                throw new UserError("cannot resume from " + resume + ": " + e.getMessage()
                        + "\n(move it away, or choose another --run-dir to start afresh)", e);
            }
        }
        return new UNet(mc, device, cfg.seed);
    }

    /** The requested model adapted to the data: resolution, channels, classes. */
    public static UNetConfig modelConfigFor(TrainConfig cfg, ImageDataset data) {
        try {
            return cfg.model.withResolution(data.height()).withChannels(data.channels())
                    .withOutChannels(cfg.variance.learned() ? 2 * data.channels() : data.channels())
                    .withNumClasses(cfg.classConditional ? data.numClasses() : 0);
        } catch (IllegalArgumentException e) {
            throw new UserError("the " + cfg.preset + " model does not fit " + data.name() + " (" + data.channels() + "×"
                    + data.height() + "×" + data.width() + "): " + e.getMessage()
                    + "; use --image-size to rescale the images", e);
        }
    }

    private void resumeFrom(Path ckpt) {
        try {
            Checkpoint.Loaded l = Checkpoint.load(ckpt, model, opt, ema);
            step = l.step();
            Map<String, String> m = l.metadata();
            if (l.rngs().containsKey("train")) rng = l.rngs().get("train");
            if (l.rngs().containsKey("labels")) labelRng = l.rngs().get("labels");
            if (m.containsKey("data.epoch") && m.containsKey("data.index")) {
                long e = Long.parseLong(m.get("data.epoch"));
                int i = Integer.parseInt(m.get("data.index"));
                if (i < data.size()) batches.seek(e, i);
            }
            String ds = m.get("data.name");
            if (ds != null && !ds.equals(data.name()))
                log.println("warning: " + ckpt.getFileName() + " was trained on " + ds + ", continuing on " + data.name());
            lastCheckpoint = ckpt;
            log.println("resumed from " + ckpt + " at step " + step);
        } catch (IOException | RuntimeException e) {
            close();
            throw new UserError("cannot resume from " + ckpt + ": " + e.getMessage()
                    + "\n(move it away, or choose another --run-dir to start afresh)", e);
        }
    }

    public UNet model() { return model; }

    public EpsModel epsModel() { return eps; }

    public Ema ema() { return ema; }

    public Adam optimizer() { return opt; }

    /** The training stream (timesteps and noise). */
    public Rng trainRng() { return rng; }

    public GaussianDiffusion diffusion() { return diffusion; }

    public long step() { return step; }

    public TrainConfig config() { return cfg; }

    public Path lastCheckpoint() { return lastCheckpoint; }

    /** Asks the loop to stop after the current step and save (what Ctrl-C does). */
    public void requestStop() { stopRequested = true; }

    // ================================================================ the loop
    /** Trains until {@code cfg.steps} (or a stop request). */
    public Result train() { return train(cfg.steps); }

    public Result train(long untilStep) {
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            if (finished.getCount() == 0) return;
            stopRequested = true;
            log.println();
            log.println("interrupted: finishing step " + (step + 1) + " and saving a checkpoint...");
            log.flush();
            try {
                finished.await(10, TimeUnit.MINUTES);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            lock.close();   // the JVM may halt before close() runs
        }, "jddpm-save-on-exit");
        try {
            Runtime.getRuntime().addShutdownHook(hook);
            hookInstalled = true;
        } catch (IllegalStateException e) {
            // the JVM is already shutting down
        }
        long startStep = step;
        double lastLoss = Double.NaN, lastNorm = Double.NaN;
        long windowImages = 0, windowNanos = 0, totalImages = 0, totalNanos = 0;
        double lossSum = 0;
        int lossCount = 0;
        boolean interrupted = false;
        try {
            if (step == 0 && startStep == 0) log.println("training " + model + " on " + device + ": " + cfg);
            while (step < untilStep) {
                if (stopRequested) { interrupted = true; break; }
                long t0 = System.nanoTime();
                trainStep();
                boolean logNow = step % cfg.logEvery == 0 || step == startStep + 1 || step == untilStep;
                boolean readNow = logNow || stopRequested || (cfg.sampleEvery > 0 && step % cfg.sampleEvery == 0)
                        || (cfg.ckptEvery > 0 && step % cfg.ckptEvery == 0);
                if (readNow) {
                    for (double[] ln : drain()) {
                        lastLoss = ln[0];
                        lastNorm = ln[1];
                        lossSum += lastLoss;
                        lossCount++;
                    }
                }
                long dt = System.nanoTime() - t0;   // steps queue work on a GPU: the reads above wait for it
                windowImages += cfg.batch;
                windowNanos += dt;
                totalImages += cfg.batch;
                totalNanos += dt;
                if (logNow) {
                    double ips = windowImages / (windowNanos / 1e9);
                    double eta = (untilStep - step) * (totalNanos / 1e9) / Math.max(1, step - startStep);
                    String line = String.format(Locale.ROOT, "step %d/%d  loss %.5f  grad %.3f  lr %.2e  %.1f img/s  ETA %s",
                            step, untilStep, lossSum / lossCount, lastNorm, lrSchedule.lr(step), ips, ProgressBar.duration(eta));
                    log.println(line);
                    appendCsv(step, lossSum / lossCount, lastNorm, lrSchedule.lr(step), ips);
                    windowImages = 0;
                    windowNanos = 0;
                    lossSum = 0;
                    lossCount = 0;
                }
                if (cfg.sampleEvery > 0 && step % cfg.sampleEvery == 0) preview();
                if (cfg.ckptEvery > 0 && step % cfg.ckptEvery == 0) save();
            }
            drain();
            if (interrupted || (step > startStep && (lastCheckpoint == null || RunDir.step(lastCheckpoint) != step))) save();
            if (interrupted) log.println("stopped at step " + step + "; resume by running the same command again");
        } finally {
            releasePending();
            finished.countDown();
            if (hookInstalled) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException e) {
                    // shutting down: the hook is running and now returns
                }
                hookInstalled = false;
            }
        }
        return new Result(step, step - startStep, interrupted, lastLoss,
                totalNanos > 0 ? totalImages / (totalNanos / 1e9) : 0, lastCheckpoint);
    }

    /** Per step not yet read: its loss and Σg², one-element tensors where the model is. */
    private final List<Tensor[]> pending = new ArrayList<>();

    /** One optimisation step; no host read (its loss and Σg² wait in {@link #pending} for {@link #drain}). */
    void trainStep() {
        if (recorded == null && !recordTried && directSteps > 0 && CudaGraphs.enabled && model.flatParams().backend().canCapture()) {
            recordTried = true;
            record();
            return;
        }
        if (recorded != null) {
            replay();
            return;
        }
        directSteps++;
        long next = step + 1;
        try (Scope s = Scope.open()) {
            BatchIterator.Batch b = batches.next(device);
            Tensor labels = null;
            if (model.config.numClasses > 0) labels = dropLabels(b.hostLabels());
            model.zeroGrad();
            GaussianDiffusion.TrainingTerms terms = diffusion.trainingTerms(eps, b.images(), labels, rng, cfg.loss, cfg.hybridLambda);
            terms.loss().backward();
            Tensor sumSq = GradClip.sumSquares(model.flatGrads());
            opt.step(lrSchedule.lr(next), sumSq, cfg.gradClip);   // skips the update when the norm is not finite
            ema.update();
            Tensor[] kept = {s.keep(terms.loss().detach()), s.keep(sumSq)};
            for (Tensor t : kept) Scope.disown(t);   // pending until drained, whatever scope the caller has open
            pending.add(kept);
            step = next;
        }
    }

    /**
     * Reads the pending steps' {loss, gradient norm} in one transfer, oldest first; throws
     * {@link DivergedException} naming the first step whose loss or norm is not finite.
     */
    List<double[]> drain() {
        if (pending.isEmpty()) return List.of();
        double[] v;
        try (Scope s = Scope.open()) {
            Tensor[] flat = new Tensor[2 * pending.size()];
            for (int i = 0; i < pending.size(); i++) {
                flat[2 * i] = pending.get(i)[0].reshape(1);
                flat[2 * i + 1] = pending.get(i)[1].reshape(1);
            }
            v = Tensor.concat(0, flat).toDoubles();
        }
        int n = pending.size();
        long first = step - n + 1;
        releasePending();
        List<double[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            double loss = v[2 * i], norm = Math.sqrt(v[2 * i + 1]);
            if (!Double.isFinite(loss)) diverged("loss", loss, first + i, i == n - 1);
            if (!Double.isFinite(norm)) diverged("gradient norm", norm, first + i, i == n - 1);
            out.add(new double[]{loss, norm});
        }
        return out;
    }

    private void releasePending() {
        for (Tensor[] p : pending) for (Tensor t : p) t.release();
        pending.clear();
    }

    private Tensor dropLabels(int[] host) {
        int[] y = droppedLabels(host);
        return Tensor.ofInts(y, device, y.length);
    }

    private int[] droppedLabels(int[] host) {
        int[] y = host.clone();
        for (int i = 0; i < y.length; i++) if (cfg.labelDropout > 0 && labelRng.nextDouble() < cfg.labelDropout) y[i] = UNet.NULL_LABEL;
        return y;
    }

    // ================================================================ the step as a recorded graph
    /** The training step recorded once (see {@link #record}); null before, or where it cannot be recorded. */
    private Backend.Graph recorded;
    private boolean recordTried;
    /** Steps run directly in this trainer (the first measures the conv algorithms before anything is recorded). */
    private long directSteps;
    /** The recorded step's fixed inputs (images, timesteps, labels, Adam's schedule) and outputs (loss, Σg²). */
    private Tensor gImages, gTimesteps, gLabels, gSchedule, gLoss, gSumSq;
    /** Philox offsets at which the recording drew its noise and its dropout masks, and what one step draws. */
    private long noiseAt, dropoutAt, noisePerStep, dropoutPerStep;

    /**
     * Records the training step on fixed tensors (where the backend records work, after one step
     * run directly) and runs it as the first replay: per step the host then only writes the batch,
     * the timesteps, the labels and Adam's schedule into those tensors, shifts the two Philox
     * streams (noise, dropout) to where the step-by-step loop draws them, and replays: one launch a
     * step, the same values (TrainerCudaTest holds them equal bit for bit). A step that cannot be
     * recorded (a host transfer inside) runs directly, and so do the ones after it.
     */
    private void record() {
        Backend backend = model.flatParams().backend();
        int[] shape = {cfg.batch, data.channels(), data.height(), data.width()};
        gImages = Tensor.empty(DType.F32, device, shape);
        gTimesteps = Tensor.empty(DType.I32, device, cfg.batch);
        gLabels = model.config.numClasses > 0 ? Tensor.empty(DType.I32, device, cfg.batch) : null;
        gSchedule = Tensor.empty(DType.F32, device, 3);
        gLoss = Tensor.empty(DType.F32, device, 1);
        gSumSq = Tensor.empty(DType.F32, device, 1);
        for (Tensor t : new Tensor[]{gImages, gTimesteps, gLabels, gSchedule, gLoss, gSumSq}) if (t != null) Scope.disown(t);
        long next = step + 1;
        writeInputs(next);
        Rng dropout = model.dropoutRng();
        noiseAt = rng.offset();
        dropoutAt = dropout == null ? 0 : dropout.offset();
        Runnable body = () -> {
            try (Scope s = Scope.open()) {
                model.zeroGrad();
                Tensor noise = Tensor.randn(rng, DType.F32, device, shape);
                GaussianDiffusion.TrainingTerms terms = diffusion.trainingTerms(eps, gImages, gTimesteps, gLabels, noise, cfg.loss, cfg.hybridLambda);
                terms.loss().backward();
                Tensor sumSq = GradClip.sumSquares(model.flatGrads());
                opt.stepScheduled(gSchedule, sumSq, cfg.gradClip);   // skips the update when the norm is not finite
                ema.update();
                gLoss.copyFrom(terms.loss().reshape(1));
                gSumSq.copyFrom(sumSq);
            }
        };
        try {
            recorded = backend.capture(body);
        } catch (IllegalStateException notRecordable) {
            rng.setOffset(noiseAt);
            if (dropout != null) dropout.setOffset(dropoutAt);
            body.run();   // this step directly, on the inputs already written
            finishStep(next);
            releaseRecording();
            return;
        }
        noisePerStep = rng.offset() - noiseAt;
        dropoutPerStep = dropout == null ? 0 : dropout.offset() - dropoutAt;
        rng.setOffset(noiseAt);   // recording drew nothing: the first replay draws here
        if (dropout != null) dropout.setOffset(dropoutAt);
        replayWritten(next);
    }

    /** One step by replaying the recording. */
    private void replay() {
        long next = step + 1;
        writeInputs(next);
        replayWritten(next);
    }

    /** Replays the recording on inputs already written for step {@code next}. */
    private void replayWritten(long next) {
        Backend backend = model.flatParams().backend();
        Rng dropout = model.dropoutRng();
        backend.setRandomOffsetShift(rng.seed(), rng.offset() - noiseAt);
        if (dropout != null) backend.setRandomOffsetShift(dropout.seed(), dropout.offset() - dropoutAt);
        recorded.replay();
        rng.setOffset(rng.offset() + noisePerStep);
        if (dropout != null) dropout.setOffset(dropout.offset() + dropoutPerStep);
        finishStep(next);
    }

    /** Step {@code next}'s batch, timesteps (drawn from the training stream, as a direct step does), labels and schedule into the recording's inputs. */
    private void writeInputs(long next) {
        int[] labels = batches.nextInto(gImages);
        if (gLabels != null) gLabels.copyFrom(droppedLabels(labels));
        int[] t = new int[cfg.batch];
        for (int i = 0; i < t.length; i++) t[i] = rng.nextInt(diffusion.steps());   // as GaussianDiffusion.sampleTimesteps
        gTimesteps.copyFrom(t);
        opt.writeSchedule(gSchedule, lrSchedule.lr(next), next);
    }

    /** After a recorded step: Adam's count, the loss and Σg² kept for {@link #drain}, the step number. */
    private void finishStep(long next) {
        opt.setStepCount(next);
        Tensor[] kept = {gLoss.copy(), gSumSq.copy()};
        for (Tensor t : kept) Scope.disown(t);   // pending until drained
        pending.add(kept);
        step = next;
    }

    private void releaseRecording() {
        if (recorded != null) {
            recorded.close();
            // the streams draw at their plain offsets again (a later direct use of the same seeds)
            Backend backend = model.flatParams().backend();
            backend.setRandomOffsetShift(rng.seed(), 0);
            Rng dropout = model.dropoutRng();
            if (dropout != null) backend.setRandomOffsetShift(dropout.seed(), 0);
        }
        recorded = null;
        for (Tensor t : new Tensor[]{gImages, gTimesteps, gLabels, gSchedule, gLoss, gSumSq}) if (t != null && !t.isReleased()) t.release();
    }

    /**
     * Stops naming step {@code at}; its update was skipped. When it is the latest step, the state
     * is that of the step before it, and the step count says so.
     */
    private void diverged(String what, double v, long at, boolean latest) {
        long ranTo = step;
        if (latest) step = at - 1;
        String keep = lastCheckpoint != null ? "the last good checkpoint, " + lastCheckpoint + " (step " + RunDir.step(lastCheckpoint)
                + "), was kept; rerunning resumes from it" : "no checkpoint had been written yet";
        String stopped = latest ? "stopped before updating the weights with it"
                : "its update was skipped, and training stopped at step " + ranTo + " when it read the loss (every --log-every steps)";
        throw new DivergedException(String.format(Locale.ROOT,
                "training diverged: the %s is %s at step %d; %s. %s. "
                        + "Try a lower --lr (now %.1e), a longer warmup, or check the data.", what, v, at, stopped, keep, cfg.lr), at);
    }

    // ================================================================ outputs
    /** Saves a checkpoint for the current step (atomic: the nn checkpoint code writes a temporary file and renames it). */
    public Path save() {
        Path p = RunDir.checkpoint(runDir, step);
        try {
            Files.createDirectories(runDir);
            Map<String, String> extra = new LinkedHashMap<>();
            extra.put("diffusion.timesteps", Integer.toString(cfg.timesteps));
            extra.put("diffusion.schedule", cfg.schedule);
            extra.put("diffusion.loss", cfg.loss.name().toLowerCase(Locale.ROOT));
            extra.put("diffusion.predict", cfg.predict.cliName);
            extra.put("diffusion.variance", cfg.variance.cliName);
            extra.put("train_config", cfg.toJson());
            extra.put("data.name", data.name());
            extra.put("data.epoch", Long.toString(batches.epoch()));
            extra.put("data.index", Integer.toString(batches.index()));
            if (model.config.numClasses > 0) extra.put("data.classes", String.join(",", data.classNames()));
            Map<String, Rng> rngs = new LinkedHashMap<>();
            rngs.put("train", rng);
            rngs.put("labels", labelRng);
            Checkpoint.save(p, model, opt, ema, step, rngs, extra);
        } catch (IOException e) {
            throw new UserError("cannot write checkpoint " + p + ": " + e.getMessage(), e);
        }
        lastCheckpoint = p;
        log.println("saved " + p);
        prune();
        return p;
    }

    private void prune() {
        List<Path> all = RunDir.checkpoints(runDir);
        for (int i = 0; i < all.size() - cfg.keepCheckpoints; i++) {
            try {
                Files.deleteIfExists(all.get(i));
            } catch (IOException e) {
                log.println("warning: could not delete old checkpoint " + all.get(i) + ": " + e.getMessage());
            }
        }
    }

    /** Samples a preview grid from the EMA weights (same noise every time, so grids compare across steps). */
    public Path preview() {
        Path out = RunDir.samples(runDir, step);
        int n = cfg.sampleCount;
        try (Scope s = Scope.open(); Grad.Guard g = Grad.noGrad()) {
            Tensor x = sampleEma(n, new Rng(cfg.seed ^ SAMPLE_SALT), cfg.sampleSteps, cfg.guidance);
            Images.savePng(x.clamp(-1, 1), out, (int) Math.ceil(Math.sqrt(n)));
        } catch (IOException e) {
            log.println("warning: could not write " + out + ": " + e.getMessage());
            return null;
        }
        log.println("samples: " + out);
        return out;
    }

    /**
     * n samples from the EMA weights (in the current scope): DDIM with {@code samplerSteps} steps
     * (η = 0), or ancestral DDPM when 0 (over all T) or when the config asks for ancestral previews
     * (respaced to samplerSteps); class-conditional models get labels 0, 1, 2, … and guidance weight {@code w}.
     */
    public Tensor sampleEma(int n, Rng sampleRng, int samplerSteps, double w) {
        if (previewSampler == null || previewSteps != samplerSteps) {   // one per step count: its device tables are reused
            releasePreviewSampler();
            previewSampler = samplerSteps <= 0 || samplerSteps >= cfg.timesteps ? new DdpmSampler(diffusion)
                    : cfg.sampleAncestral ? DdpmSampler.respaced(diffusion, samplerSteps, true) : new DdimSampler(diffusion, samplerSteps);
            previewSteps = samplerSteps;
        }
        Sampler sampler = previewSampler;
        int c = model.config.inChannels, r = model.config.resolution;
        try (Ema.Swap sw = ema.swap()) {
            model.eval();
            try {
                if (model.config.numClasses > 0) {
                    int[] y = new int[n];
                    for (int i = 0; i < n; i++) y[i] = i % model.config.numClasses;
                    Tensor labels = Tensor.ofInts(y, device, n);
                    return sampler.sample(new Guidance(eps, w, model.config.nullLabelRow()), new int[]{n, c, r, r}, device, labels, sampleRng, null);
                }
                return sampler.sample(eps, new int[]{n, c, r, r}, device, null, sampleRng, null);
            } finally {
                model.train(true);
            }
        }
    }

    private Sampler previewSampler;
    private int previewSteps;

    /** Frees a respaced preview process's device tables (the trainer's own diffusion keeps its). */
    private void releasePreviewSampler() {
        if (previewSampler instanceof DdpmSampler d && d.diffusion() != diffusion) d.diffusion().releaseTables();
        previewSampler = null;
    }

    private void appendCsv(long s, double loss, double norm, double lr, double ips) {
        try {
            Files.createDirectories(runDir);
            Path f = RunDir.log(runDir);
            boolean fresh = !Files.exists(f);
            String line = (fresh ? "step,loss,grad_norm,lr,img_per_s\n" : "")
                    + String.format(Locale.ROOT, "%d,%.6f,%.5f,%.3e,%.2f%n", s, loss, norm, lr, ips);
            Files.writeString(f, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the log file is a convenience; the console line has the same figures
        }
    }

    @Override public void close() {
        releasePending();
        releaseRecording();
        releasePreviewSampler();
        ema.close();
        opt.close();
        model.close();
        lock.close();
    }
}
