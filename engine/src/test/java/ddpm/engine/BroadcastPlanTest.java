package ddpm.engine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The broadcast plan every backend walks: merged axes, strides, the element walk, errors. */
class BroadcastPlanTest {
    @Test void mergesAxesEveryOperandStepsThroughAlike() {
        Broadcast p = Broadcast.plan(new int[]{4, 3, 5, 7}, new int[]{4, 3, 5, 7}, new int[]{1, 3, 1, 1});
        assertEquals(3, p.rank);
        assertArrayEquals(new int[]{4, 3, 35}, p.dims);
        assertArrayEquals(new int[]{105, 35, 1}, p.strides[0]);
        assertArrayEquals(new int[]{0, 1, 0}, p.strides[1]);
        assertEquals(35, p.inner());
        assertEquals(0, p.innerStride(1));

        Broadcast q = Broadcast.plan(new int[]{2, 3, 4}, new int[]{3, 4}, new int[]{2, 1, 1});
        assertArrayEquals(new int[]{2, 12}, q.dims);
        assertArrayEquals(new int[]{0, 1}, q.strides[0]);
        assertArrayEquals(new int[]{1, 0}, q.strides[1]);

        for (int[] one : new int[][]{{1, 1}, {}}) {
            Broadcast s = Broadcast.plan(one, new int[0], one);
            assertEquals(1, s.rank);
            assertEquals(1, s.numel);
        }
    }

    @Test void walksOperandsInOutputOrder() {
        int[] out = {2, 3, 4};
        Broadcast p = Broadcast.plan(out, new int[]{3, 1}, new int[]{2, 1, 4});
        List<String> seen = new ArrayList<>();
        p.forEach((o, offs) -> seen.add(o + ":" + offs[0] + "," + offs[1]));
        assertEquals(24, seen.size());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) {
                    int o = (i * 3 + j) * 4 + k;
                    assertEquals(o + ":" + j + "," + (i * 4 + k), seen.get(o));
                }
    }

    @Test void rejectsWhatDoesNotBroadcast() {
        assertThrows(IllegalArgumentException.class, () -> Broadcast.plan(new int[]{3}, new int[]{4}));
        assertThrows(IllegalArgumentException.class, () -> Broadcast.plan(new int[]{3}, new int[]{2, 3}));
    }
}
