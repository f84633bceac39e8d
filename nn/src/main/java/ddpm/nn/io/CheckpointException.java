package ddpm.nn.io;

/** A checkpoint that cannot be read or does not fit the model: truncated, corrupt, or mismatched
 *  (the message lists every problem). Nothing in the model or optimizer has been changed. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) { super(message); }
}
