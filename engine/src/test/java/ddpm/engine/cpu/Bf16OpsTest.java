package ddpm.engine.cpu;

import ddpm.engine.BFloat16;
import ddpm.engine.DType;
import ddpm.engine.Device;
import ddpm.engine.Scope;
import ddpm.engine.Tensor;
import ddpm.engine.testing.Bf16Calls;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * BF16 activations on the CPU backend: each primitive, called with BF16 activations beside F32
 * parameters and statistics, gives exactly the F32 call's results with its BF16 outputs rounded to
 * bfloat16 (the float kernel ran on the same values, then rounded what it stored); F32 outputs are
 * the F32 call's, bit for bit. The fused ops too: their composed defaults round once, at the end,
 * as a fused kernel stores its result.
 */
class Bf16OpsTest {
    static List<Bf16Calls.Call> calls() { return Bf16Calls.all(); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("calls")
    void bf16IsTheFloat32ResultRounded(Bf16Calls.Call call) {
        try (Scope ignored = Scope.open()) {
            List<Tensor> f32 = call.run(Device.CPU, DType.F32, 0), bf16 = call.run(Device.CPU, DType.BF16, 5);
            assertFalse(f32.isEmpty(), call + ": no output to check");
            assertEquals(f32.size(), bf16.size());
            for (int o = 0; o < f32.size(); o++) {
                float[] want = f32.get(o).toFloats(), got = bf16.get(o).toFloats();
                boolean rounded = bf16.get(o).dtype() == DType.BF16;
                for (int i = 0; i < want.length; i++) {
                    float w = rounded ? BFloat16.round(want[i]) : want[i];
                    String where = call + ": output " + o + " (" + bf16.get(o).describe() + ") element " + i;
                    assertFalse(Float.isNaN(got[i]) && !Float.isNaN(w), where + " unwritten");
                    if (rounded) assertEquals(BFloat16.round(got[i]), got[i], 0, where + " holds a value bfloat16 cannot");
                    assertEquals(Float.floatToIntBits(w), Float.floatToIntBits(got[i]), where + ": want " + w + ", got " + got[i]);
                }
            }
        }
    }
}
