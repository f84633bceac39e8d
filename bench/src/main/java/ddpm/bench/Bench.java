package ddpm.bench;

import ddpm.engine.Device;

import java.util.ArrayList;
import java.util.List;

/**
 * The JMH launcher: {@code org.openjdk.jmh.Main} with the backend parameter chosen for this
 * machine. Without a {@code -p backend=...} of the caller's, it runs {@code backend=cpu,cuda}
 * where a CUDA device opens, else {@code backend=cpu} after printing one line
 * {@code skipped: no CUDA device (reason)}. Every other argument goes to JMH unchanged.
 */
public final class Bench {
    private Bench() {}

    public static void main(String[] args) throws Exception {
        List<String> a = new ArrayList<>(List.of(args));
        boolean chosen = false;
        for (int i = 0; i + 1 < a.size(); i++)
            if (a.get(i).equals("-p") && a.get(i + 1).startsWith("backend=")) chosen = true;
        if (!chosen) {
            String why = DeviceState.unavailable(Device.cuda(0));
            if (why != null) System.out.println("skipped: no CUDA device (" + why + ")");
            a.add("-p");
            a.add(why == null ? "backend=cpu,cuda" : "backend=cpu");
        }
        org.openjdk.jmh.Main.main(a.toArray(new String[0]));
    }
}
