package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.engine.Backend;
import ddpm.engine.Backends;
import ddpm.engine.Device;
import ddpm.engine.MathPrecision;

import java.io.PrintStream;
import java.util.Locale;

/** The --device option: auto (CUDA when usable, else the CPU), cpu, cuda, cuda:N. */
public final class Devices {
    private Devices() {}

    public static final String HELP = "auto | cpu | cuda | cuda:N";

    /** Validates the value without opening anything. */
    public static String check(String v) {
        if (v.equalsIgnoreCase("auto")) return "auto";
        try {
            return Device.parse(v).toString();
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device: expected " + HELP + ", got '" + v + "'");
        }
    }

    /** Opens the device; "auto" falls back to the CPU (the engine logs why). */
    public static Device open(String v, PrintStream log) {
        String c = check(v);
        if (c.equals("auto")) return Backends.best();
        Device d = Device.parse(c);
        if (d.isCpu()) return d;
        try {
            Backends.get(d);
            return d;
        } catch (RuntimeException | LinkageError e) {
            throw new UserError("--device " + v + ": " + e.getMessage()
                    + "\n(use --device cpu, or --device auto to fall back to the CPU)");
        }
    }

    public static final String PRECISION_HELP = "auto | fp32 | tf32 | bf16: the math of matmul, convolution and attention\n"
            + "(auto: bf16 on a GPU with tensor cores, else fp32; weights, group-norm statistics, softmax,\n"
            + "loss and optimiser state stay fp32)";

    public static final String ACTIVATIONS_HELP = "auto | f32 | bf16: the dtype the U-Net stores its activations in (auto: bf16\n"
            + "with bf16 math, else f32; bf16: half the bytes, every stored value rounded; weights, gradients,\n"
            + "statistics and the loss stay f32)";

    /** Validates a --activations value without opening anything: "auto", "f32" or "bf16". */
    public static String checkActivations(String v) {
        String s = v.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (s) {
            case "auto", "bf16" -> s;
            case "f32", "fp32" -> "f32";
            default -> throw new UsageException("--activations: expected auto, f32 or bf16, got '" + v + "'");
        };
    }

    /** Whether a --activations value stores BF16 activations on {@code device} (auto: when its math precision is bf16). */
    public static boolean bf16Activations(String v, Device device) {
        return switch (checkActivations(v)) {
            case "bf16" -> true;
            case "f32" -> false;
            default -> ddpm.engine.Backends.get(device).precision() == MathPrecision.BF16;
        };
    }

    /** Validates a --precision value without opening anything. */
    public static String checkPrecision(String v) {
        if (v.equalsIgnoreCase("auto")) return "auto";
        try {
            return MathPrecision.parse(v).toString();
        } catch (IllegalArgumentException e) {
            throw new UsageException("--precision: expected " + PRECISION_HELP.split(":")[0] + ", got '" + v + "'");
        }
    }

    /**
     * Sets the math precision of {@code device}'s backend from a --precision value ("auto": bf16
     * where the backend has it and is not the CPU, else fp32) and says so in one line.
     */
    public static MathPrecision applyPrecision(String v, Device device, PrintStream log) {
        Backend b = Backends.get(device);
        MathPrecision p = checkPrecision(v).equals("auto")
                ? (!device.isCpu() && b.supports(MathPrecision.BF16) ? MathPrecision.BF16 : MathPrecision.FP32)
                : MathPrecision.parse(v);
        if (!b.supports(p))
            throw new UserError("--precision " + p + ": " + device + " computes matmul, convolution and attention in fp32 only"
                    + (device.isCpu() ? " (bf16 and tf32 are the CUDA backend's)" : " (its GPU has no tensor cores for it)"));
        b.setPrecision(p);
        if (log != null && !(device.isCpu() && p == MathPrecision.FP32))
            log.println(String.format(Locale.ROOT, "math: %s for matmul, convolution and attention on %s", p, device));
        return p;
    }
}
