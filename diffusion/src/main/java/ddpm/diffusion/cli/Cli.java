package ddpm.diffusion.cli;

import ddpm.diffusion.UsageException;
import ddpm.diffusion.UserError;
import java.io.PrintStream;

/** Runs a main's body and maps errors to exit statuses: 0 success, 1 a {@link UserError} (message
 *  only) or an unexpected failure (with its stack trace), 2 a {@link UsageException} (message and
 *  usage), 130 interrupted. */
public final class Cli {
    private Cli() {}

    @FunctionalInterface
    public interface Body { int run() throws Exception; }

    /** A main's work on its parsed arguments; returns the exit status. */
    @FunctionalInterface
    public interface Command { int run(Args parsed) throws Exception; }

    /**
     * A main from its argument spec to its exit status: parses {@code argv} ({@code --help}
     * prints the usage to {@code out} and returns 0), then runs {@code command}, mapping errors
     * as {@link #run(Args, PrintStream, Body)} does.
     */
    public static int main(Args spec, String[] argv, PrintStream out, PrintStream err, Command command) {
        return run(spec, err, () -> {
            if (!spec.parse(argv)) { spec.printUsage(out); return 0; }
            return command.run(spec);
        });
    }

    public static int run(Args args, PrintStream err, Body body) {
        // log records (e.g. the backend's "using the CPU: ..." fallback) on one line each
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null)
            System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s: %5$s%6$s%n");
        try {
            return body.run();
        } catch (UsageException e) {
            err.println(args.program() + ": error: " + e.getMessage());
            err.println();
            args.printUsage(err);
            return 2;
        } catch (UserError e) {
            err.println(args.program() + ": error: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            err.println(args.program() + ": interrupted");
            return 130;
        } catch (OutOfMemoryError e) {
            err.println(args.program() + ": out of memory (" + e.getMessage() + "): try a smaller --batch,"
                    + " or give the JVM more heap (MAVEN_OPTS=-Xmx8g for mvn exec:java)");
            return 1;
        } catch (Exception e) {
            err.println(args.program() + ": failed: " + e);
            e.printStackTrace(err);
            return 1;
        }
    }

    /** Exits the JVM with {@code status} unless it is 0 (so `mvn exec:java` ends normally on success). */
    public static void exit(int status) {
        System.out.flush();
        System.err.flush();
        if (status != 0) System.exit(status);
    }
}
