package ddpm.diffusion;

/** A problem the user can fix that is not a command-line mistake (missing data set, unreadable
 *  checkpoint, no GPU where one was asked for): the main prints the message, no stack trace, and
 *  exits with status 1. */
public class UserError extends RuntimeException {
    public UserError(String message) { super(message); }

    public UserError(String message, Throwable cause) { super(message, cause); }
}
