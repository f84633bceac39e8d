package ddpm.engine.cpu;

import ddpm.engine.Backend;
import ddpm.engine.BackendProvider;
import ddpm.engine.Device;

/** Plugs the CPU backend into the engine (META-INF/services/ddpm.engine.BackendProvider). */
public final class CpuBackendProvider implements BackendProvider {
    @Override public Device.Kind kind() { return Device.Kind.CPU; }

    @Override public Backend open(Device device) { return CpuBackend.INSTANCE; }
}
