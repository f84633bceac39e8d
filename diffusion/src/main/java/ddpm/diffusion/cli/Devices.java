package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import ddpm.engine.Backends;
import ddpm.engine.Device;

import java.io.PrintStream;

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
}
