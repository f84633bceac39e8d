package ddpm.diffusion.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The layout of a run directory: {@code ckpt-000012000.safetensors} checkpoints (the step in the
 * name), {@code samples/step-000012000.png} preview grids, {@code train_log.csv}.
 */
public final class RunDir {
    private static final Pattern CKPT = Pattern.compile("ckpt-(\\d+)\\.safetensors");

    private RunDir() {}

    public static Path checkpoint(Path dir, long step) { return dir.resolve(String.format("ckpt-%09d.safetensors", step)); }

    public static Path samples(Path dir, long step) { return dir.resolve("samples").resolve(String.format("step-%09d.png", step)); }

    public static Path log(Path dir) { return dir.resolve("train_log.csv"); }

    /** Checkpoints in the directory, oldest (lowest step) first. */
    public static List<Path> checkpoints(Path dir) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> CKPT.matcher(p.getFileName().toString()).matches()).forEach(out::add);
        } catch (IOException e) {
            return out;
        }
        out.sort((a, b) -> Long.compare(step(a), step(b)));
        return out;
    }

    /** The checkpoint of the highest step, or null. */
    public static Path latest(Path dir) {
        List<Path> c = checkpoints(dir);
        return c.isEmpty() ? null : c.get(c.size() - 1);
    }

    /** The step in a checkpoint's name, or −1. */
    public static long step(Path ckpt) {
        Matcher m = CKPT.matcher(ckpt.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Resolves a --ckpt argument: a file, or a run directory (its latest checkpoint). */
    public static Path resolve(Path arg) {
        if (Files.isDirectory(arg)) {
            Path l = latest(arg);
            if (l == null) throw new ddpm.diffusion.UserError("no checkpoints (ckpt-*.safetensors) in " + arg.toAbsolutePath());
            return l;
        }
        if (!Files.isRegularFile(arg)) throw new ddpm.diffusion.UserError("checkpoint " + arg.toAbsolutePath() + " does not exist");
        return arg;
    }
}
