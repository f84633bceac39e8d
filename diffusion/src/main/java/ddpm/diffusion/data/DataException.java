package ddpm.diffusion.data;

import ddpm.diffusion.UserError;

/** A data set that is missing, damaged or in the wrong format; the message says what to do. */
public class DataException extends UserError {
    public DataException(String message) { super(message); }

    public DataException(String message, Throwable cause) { super(message, cause); }
}
