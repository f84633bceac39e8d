package ddpm.kernels.cuda;

import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One kernel family: the PTX resource ddpm/kernels/ptx/&lt;family&gt;.ptx (built from
 * src/main/cuda/&lt;family&gt;.cu), loaded with cuModuleLoadData on first use (the driver JIT-compiles
 * it for the GPU and caches the result), and its functions by name.
 */
final class KernelModule {
    static final String PTX_DIR = "/ddpm/kernels/ptx/";
    /** Launch threads for 1-D elementwise kernels. */
    static final int THREADS = 256;

    private final CudaBackend backend;
    private final String family;
    private CUmodule module;
    private final Map<String, CUfunction> functions = new HashMap<>();

    KernelModule(CudaBackend backend, String family) {
        this.backend = backend;
        this.family = family;
    }

    static byte[] ptx(String family) {
        try (InputStream in = KernelModule.class.getResourceAsStream(PTX_DIR + family + ".ptx")) {
            if (in == null) throw new CudaException("PTX resource " + PTX_DIR + family + ".ptx is missing from the class path");
            byte[] b = in.readAllBytes();
            byte[] z = new byte[b.length + 1];   // cuModuleLoadData wants a NUL-terminated image
            System.arraycopy(b, 0, z, 0, b.length);
            return z;
        } catch (IOException e) {
            throw new CudaException("cannot read PTX " + family, e);
        }
    }

    synchronized CUfunction function(String name) {
        CUfunction f = functions.get(name);
        if (f != null) return f;
        if (module == null) {
            CUmodule m = new CUmodule();
            Cuda.check(JCudaDriver.cuModuleLoadData(m, ptx(family)), "cuModuleLoadData(" + family + ".ptx)");
            module = m;
        }
        f = new CUfunction();
        Cuda.check(JCudaDriver.cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + family + "." + name + ")");
        functions.put(name, f);
        return f;
    }

    /** Lets {@code name} use up to {@code bytes} of dynamic shared memory (needed above 48 KB). */
    void allowSharedMemory(String name, int bytes) {
        DryRun dry = backend.dryRun();
        if (dry != null) {
            dry.record(new DryRun.Call(DryRun.Kind.ALLOW_SHARED, family, name, null, null, null, bytes, null, null, null, null));
            return;
        }
        Cuda.check(JCudaDriver.cuFuncSetAttribute(function(name),
                CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
                "cuFuncSetAttribute(" + name + ", max dynamic shared = " + bytes + ")");
    }

    /** Grid for a grid-stride loop over {@code n} items: enough blocks to fill the GPU a few times. */
    int blocksFor(long n, int threads) {
        long b = (n + threads - 1) / threads;
        return (int) Math.max(1, Math.min(b, (long) backend.smCount() * 16));
    }

    /** 1-D launch over n items (skipped when n = 0: a zero grid is an error). */
    void launch1d(String name, long n, Args args, Supplier<String> shapes) {
        if (n == 0) return;
        CudaBackend.checkIndexable(n, name, shapes);
        launch(name, blocksFor(n, THREADS), 1, 1, THREADS, 1, 1, 0, args, shapes);
    }

    void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Args args,
                Supplier<String> shapes) {
        DryRun dry = backend.dryRun();
        if (dry != null) {
            dry.record(new DryRun.Call(DryRun.Kind.LAUNCH, family, name, args.recorded(), new int[]{gx, gy, gz},
                    new int[]{bx, by, bz}, sharedBytes, null, null, null, null));
            return;
        }
        CUfunction f = function(name);
        int r = JCudaDriver.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sharedBytes, backend.stream(), args.build(), null);
        if (r != CUresult.CUDA_SUCCESS)
            throw new CudaException("cuLaunchKernel(" + family + "." + name + ", grid " + gx + "x" + gy + "x" + gz
                    + ", block " + bx + "x" + by + "x" + bz + ", shared " + sharedBytes + " B) failed: "
                    + Cuda.errorName(r) + " [" + shapes.get() + "]");
        if (CudaBackend.SYNC_CHECK) {
            r = JCudaDriver.cuStreamSynchronize(backend.stream());
            if (r != CUresult.CUDA_SUCCESS)
                throw new CudaException("kernel " + family + "." + name + " failed: " + Cuda.errorName(r)
                        + " [" + shapes.get() + "]");
        }
    }
}
