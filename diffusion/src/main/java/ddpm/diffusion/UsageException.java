package ddpm.diffusion;

/** A mistake on the command line (unknown flag, bad value, missing argument): the main prints the
 *  message and the usage, with no stack trace, and exits with status 2. */
public class UsageException extends RuntimeException {
    public UsageException(String message) { super(message); }
}
