package ddpm.engine;

/** Service interface (java.util.ServiceLoader) through which non-CPU backends plug in, so that the
 *  engine never links native code. */
public interface BackendProvider {
    /** The device kind this provider serves. */
    Device.Kind kind();

    /** Opens the backend for a device; throws with a clear reason when it cannot (no driver, no GPU). */
    Backend open(Device device) throws Exception;
}
