package ddpm.diffusion;

import ddpm.engine.Device;
import ddpm.nn.UNet;
import ddpm.nn.io.WeightFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A model loaded for inference, with the diffusion it was trained with and which weights it holds:
 * the one checkpoint loader of every command that samples or evaluates (Sample, EvalNll,
 * EvalSamples). Training state (optimiser, EMA, RNG) is {@code Checkpoint.load}'s, for resuming.
 */
public record TrainedModel(UNet net, GaussianDiffusion diffusion, String schedule, long step, List<String> classNames,
                           String dataName, String weights) {

    public static TrainedModel load(Path ckpt, Device device, boolean ema) { return load(ckpt, device, ema, null, null); }

    /**
     * A jddpm checkpoint (EMA weights when {@code ema} and present), or a state dict in a layout
     * {@link WeightFiles} reads, with {@code hint} filling in what its names do not say; where the
     * weights came from and any assumption made is printed to {@code log} (when given). The
     * diffusion (T, schedule, parameterisation, variance) is the one the checkpoint records.
     */
    public static TrainedModel load(Path ckpt, Device device, boolean ema, Map<String, Object> hint, PrintStream log) {
        WeightFiles.Loaded w;
        try {
            w = WeightFiles.load(ckpt, device, ema, hint);
        } catch (IOException | RuntimeException e) {
            throw new UserError("cannot load checkpoint " + ckpt + ": " + e.getMessage(), e);
        }
        try {
            Map<String, String> meta = w.metadata();
            int T = Integer.parseInt(meta.getOrDefault("diffusion.timesteps", "1000"));
            String schedule = meta.getOrDefault("diffusion.schedule", "linear");
            GaussianDiffusion.MeanType mean = GaussianDiffusion.MeanType.named(meta.getOrDefault("diffusion.predict", "eps"));
            GaussianDiffusion.VarianceType var = GaussianDiffusion.VarianceType.named(meta.getOrDefault("diffusion.variance", "fixed-large"));
            UNet net = w.net();
            GaussianDiffusion diffusion = new GaussianDiffusion(Schedule.named(schedule, T), mean, var);
            if (net.config.outChannels != diffusion.outChannels(net.config.inChannels))
                throw new IllegalArgumentException("the model has " + net.config.outChannels + " output channels, the " + var.cliName
                        + " variance needs " + diffusion.outChannels(net.config.inChannels));
            long step = Long.parseLong(meta.getOrDefault("step", "0"));
            String cls = meta.get("data.classes");
            List<String> names = cls == null || cls.isEmpty() ? List.of() : Arrays.asList(cls.split(","));
            if (log != null) {
                if (!w.source().equals("jddpm checkpoint")) log.println("weights: " + w.source());
                for (String note : w.notes()) log.println("note: " + note);
                if (!meta.containsKey("diffusion.timesteps"))
                    log.println("note: the file does not say how it was trained: T = 1000 steps, linear β from 1e-4 to 0.02 (the paper's);"
                            + " Convert --timesteps/--schedule records others");
            }
            return new TrainedModel(net, diffusion, schedule, step, names, meta.get("data.name"), w.weights());
        } catch (RuntimeException e) {
            w.net().close();
            throw new UserError("cannot load checkpoint " + ckpt + ": bad metadata: " + e.getMessage(), e);
        }
    }

}
