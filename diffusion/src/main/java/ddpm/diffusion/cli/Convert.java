package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.nn.UNet;
import ddpm.nn.io.WeightFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a U-Net state dict from PyTorch — the paper's released weights in the pytorch_diffusion or
 * diffusers layout, or a model from {@code tools/torch/jddpm_unet.py} — into a jddpm checkpoint that
 * Sample and EvalNll read (weights only: no optimizer state to resume training from); without --out
 * it only says what the file holds. Sample and EvalNll also read such files directly; converting once saves the check on
 * every load and records the EMA weights, the step and the diffusion settings.
 *
 * <pre>
 *   mvn exec:java -Dmain=Convert -Dexec.args="--weights diffusion_pytorch_model.safetensors --config config.json --out cifar10.safetensors"
 * </pre>
 */
public final class Convert {
    private Convert() {}

    static Args spec() {
        return new Args("Convert", "Converts a DDPM U-Net state dict (safetensors) into a jddpm checkpoint. Reads jddpm's names,\n"
                + "the pytorch_diffusion port of the paper's TF checkpoints (temb.dense.0.weight, down.0.block.0...) and\n"
                + "diffusers' UNet2DModel (time_embedding.linear_1.weight, down_blocks.0.resnets.0...; query/key/value or\n"
                + "to_q/to_k/to_v). PyTorch pickles (.ckpt, .bin, .pth) first go through\n"
                + "python3 tools/torch/jddpm_unet.py to-safetensors IN OUT. Without --out, prints what the file holds.")
                .option("weights", "FILE", null, "the state dict (.safetensors) — required")
                .option("ema-weights", "FILE", null, "the same network's EMA weights, stored as the checkpoint's EMA set (what Sample uses)")
                .option("out", "FILE", null, "the jddpm checkpoint to write")
                .option("config", "JSON|FILE", null, "what the names do not say: a JSON file (jddpm's keys, or diffusers' config.json)\n"
                        + "or inline, e.g. '{\"resolution\": 256}'; the paper's CIFAR-10 and LSUN/CelebA-HQ networks need none")
                .option("step", "N", "0", "the training step to record (e.g. 790000 for the paper's CIFAR-10 model)")
                .option("timesteps", "T", "1000", "diffusion steps T the model was trained with (the paper: 1000)")
                .option("schedule", "NAME", "linear", "its beta schedule: linear (the paper: 1e-4 .. 0.02) | cosine")
                .example("mvn exec:java -Dmain=Convert -Dexec.args=\"--weights ddpm-cifar10-32/diffusion_pytorch_model.safetensors"
                        + " --config ddpm-cifar10-32/config.json --out cifar10-ema.safetensors\"")
                .example("mvn exec:java -Dmain=Convert -Dexec.args=\"--weights model-790000.safetensors --ema-weights ema-790000.safetensors"
                        + " --step 790000 --out cifar10.safetensors\"")
                .example("mvn exec:java -Dmain=Convert -Dexec.args=\"--weights church.safetensors\"");
    }

    public static void main(String[] argv) {
        Cli.exit(run(argv, System.out, System.err));
    }

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        return Cli.main(spec(), argv, out, err, a -> {
            Path weights = existing(a, "weights", true);
            Path ema = existing(a, "ema-weights", false);
            Path target = a.given("out") ? Path.of(a.get("out")) : null;
            long step = a.getLong("step", 0, Long.MAX_VALUE);
            int timesteps = a.getInt("timesteps", 2, 100_000);
            String schedule = a.getChoice("schedule", "linear", "cosine");
            Map<String, Object> hint = Sample.configHint(a);
            if (target != null && (target.toAbsolutePath().equals(weights.toAbsolutePath())
                    || (ema != null && target.toAbsolutePath().equals(ema.toAbsolutePath()))))
                throw new UsageException("--out: " + target + " is an input; write the checkpoint to another file");
            try {
                WeightFiles.Plan p;
                if (target == null) {
                    p = WeightFiles.plan(weights, hint);
                    if (ema != null) WeightFiles.plan(ema, hint);
                } else {
                    Map<String, String> meta = new LinkedHashMap<>();
                    meta.put("step", Long.toString(step));
                    meta.put("diffusion.timesteps", Integer.toString(timesteps));
                    meta.put("diffusion.schedule", schedule);
                    p = WeightFiles.convert(weights, ema, target, hint, meta);
                }
                out.printf(Locale.ROOT, "%s: %s layout, %,d parameters%n", weights, p.layout().description, UNet.countParameters(p.config()));
                out.println("model: " + p.config().toJson());
                for (String note : p.notes()) out.println("note: " + note);
                if (target == null) {
                    out.println("every tensor fits; nothing written (give --out FILE to write a jddpm checkpoint)");
                } else {
                    out.println("wrote " + target.toAbsolutePath() + (ema != null ? " (weights and EMA weights)" : ""));
                    out.println("sample: mvn exec:java -Dmain=Sample -Dexec.args=\"--ckpt " + target + "\"");
                }
            } catch (IOException | RuntimeException e) {
                if (e instanceof UsageException) throw e;
                throw new UserError("cannot convert " + weights + ": " + e.getMessage(), e);
            }
            return 0;
        });
    }

    private static Path existing(Args a, String option, boolean required) {
        if (!required && !a.given(option)) return null;
        Path p = Path.of(a.require(option));
        if (!Files.isRegularFile(p)) throw new UserError("--" + option + ": " + p.toAbsolutePath() + " does not exist");
        return p;
    }
}
