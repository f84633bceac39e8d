package ddpm.nn;

import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Grad;
import ddpm.engine.Rng;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class UNetTest {
    @Test void paperConfigHasExactlyTheReferenceParameterCount() {
        assertEquals(35_746_307L, UNet.countParameters(UNetConfig.cifar10()));
        try (UNet net = new UNet(UNetConfig.cifar10(), Device.CPU, 0)) {
            assertEquals(35_746_307L, net.paramCount());
            long sum = 0;
            for (Tensor p : net.parameters()) sum += p.numel();
            assertEquals(35_746_307L, sum);
            assertTrue(net.flatParams().numel() >= 35_746_307L && net.flatParams().numel() < 35_746_307L + 16 * 400);
            Map<String, Tensor> sd = net.stateDict();
            assertArrayEquals(new int[]{512, 128}, sd.get("temb.0.weight").shape());
            assertArrayEquals(new int[]{128, 3, 3, 3}, sd.get("conv_in.weight").shape());
            assertArrayEquals(new int[]{128, 128, 3, 3}, sd.get("down.0.conv1.weight").shape());
            assertArrayEquals(new int[]{256, 128, 1, 1}, sd.get("down.3.skip.weight").shape());
            assertArrayEquals(new int[]{256, 256, 1, 1}, sd.get("down.4.q.weight").shape());
            assertArrayEquals(new int[]{256, 512}, sd.get("mid.0.temb_proj.weight").shape());
            assertArrayEquals(new int[]{3, 128, 3, 3}, sd.get("conv_out.weight").shape());
        }
    }
}
