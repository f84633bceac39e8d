package ddpm.kernels.cuda;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed PTX against what the GPU machine's driver accepts and against the host build of
 * the same sources: a PTX ISA the 580-series driver (CUDA 13.0, ISA ≤ 9.0) can JIT, target sm_90,
 * 64-bit addresses, static shared memory within 48 KB; and the same entry points, parameter sizes
 * and launch bounds as the C++ signatures the host driver checks every launch against (so the
 * host build's registration missed no kernel, and a launch that passes the host checks passes the
 * PTX's).
 */
class PtxEntriesTest {
    static final Pattern VERSION = Pattern.compile("^\\.version (\\d+)\\.(\\d+)$", Pattern.MULTILINE);
    static final Pattern TARGET = Pattern.compile("^\\.target (\\S+)$", Pattern.MULTILINE);

    @Test
    void ptxHeadersSuitTheH200Driver() {
        for (String f : Ptx.families()) {
            String text = Ptx.text(f);
            Matcher v = VERSION.matcher(text), t = TARGET.matcher(text);
            assertTrue(v.find() && t.find(), f + ".ptx has no .version / .target");
            int major = Integer.parseInt(v.group(1)), minor = Integer.parseInt(v.group(2));
            assertTrue(major < 9 || (major == 9 && minor == 0), f + ".ptx: PTX ISA " + major + "." + minor
                    + " is newer than the 9.0 a CUDA 13.0 (580-series) driver JIT-compiles");
            assertEquals("sm_90", t.group(1), f + ".ptx target (H100/H200 are sm_90)");
            assertTrue(text.contains("\n.address_size 64"), f + ".ptx: 64-bit addresses");
            for (Ptx.Entry e : Ptx.parse(f).values())
                assertTrue(e.staticShared() <= 48 * 1024, f + "." + e.name() + ": static shared " + e.staticShared() + " B > 48 KB");
        }
    }

    @Test
    void hostBuildHasTheSameEntryPointsAndSignatures() {
        HostBuilds.assumeHostDriver();
        HostDriver host = HostDriver.open();
        Map<String, Ptx.Entry> ptx = new TreeMap<>();
        Ptx.all().forEach((f, es) -> es.values().forEach(e -> ptx.put(f + "." + e.name(), e)));
        assertEquals(ptx.keySet(), new java.util.TreeSet<>(host.entryNames()), "PTX .entry names vs the host build's registry");
        for (String name : host.entryNames()) {
            String[] fn = name.split("\\.");
            HostDriver.Entry h = (HostDriver.Entry) host.kernel(fn[0], fn[1]);
            Ptx.Entry p = ptx.get(name);
            assertEquals(p.params().size(), h.sizes().length, name + ": parameter count");
            for (int i = 0; i < h.sizes().length; i++)
                assertEquals(p.params().get(i).bytes(), h.sizes()[i], name + ": size of parameter " + i);
            assertEquals(p.maxThreads(), h.launchBound(), name + ": .maxntid vs __launch_bounds__");
        }
    }
}
