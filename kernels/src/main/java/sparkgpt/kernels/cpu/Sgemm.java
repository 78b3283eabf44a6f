// Multithreaded fp32 matrix multiply for the cpu backend, in pure Java with the Vector API:
// the forward and backward matmuls of every GPT-2 layer go through sgemm().
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import sparkgpt.kernels.Parallel;
import sparkgpt.kernels.Parallel.IndexBody;

/**
 * C[M,N] (+)= op(A) . op(B), row-major, with array offsets and row strides.
 *
 * <p>The structure is the Goto/BLIS one (Goto and van de Geijn, "Anatomy of high-performance
 * matrix multiplication", TOMS 2008): K is cut into blocks of at most {@link #KC}, N into blocks
 * of {@link #B_BLOCK} / kc; per block, op(B) is packed into panels of {@code NR} = two vectors of columns laid
 * out k-major, and op(A) into panels of {@link #MR} rows laid out k-major. Packing turns all four
 * transpose cases into one micro-kernel over contiguous data, and zero-pads the edges so the
 * micro-kernel always runs full; only the store of an edge tile is partial.
 *
 * <p>The micro-kernel keeps an MR x NR tile of C in 2*MR vector registers, broadcasts one
 * element of A per row and multiplies it into two vectors of B (2*MR fused multiply-adds per k).
 *
 * <p>Threads split the larger of M and N: each thread packs its own share of that operand and
 * all of the other, so the duplicated packing is of the smaller one and no barrier is needed.
 */
public final class Sgemm {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Lanes per vector: 16 with AVX-512. */
    private static final int VL = S.length();
    /** Columns per B panel (two vectors). */
    static final int NR = 2 * VL;
    /** Rows per A panel: 12 rows x 2 vectors = 24 accumulators, of the 32 AVX-512 registers
     *  (measured: 12 and 14 rows ~5% faster than 8 at KC = 256). */
    static final int MR = 12;
    /** Largest K block: an A panel (MR x KC) stays in L1 while the B block streams past it. K is
     *  cut into equal blocks of at most KC (K = 384 is one block, 1024 three of 342), so that each
     *  C tile is loaded and stored as few times as possible (SgemmBench, best of 7: 1024x1536x384
     *  256 vs 176 GFLOP/s, 1024x1152x384 230 vs 180, with KC = 256). */
    static final int KC = 384;
    /** Floats of a packed kc x nc block of B: 1 MiB stays in L2 (2 MiB per core here). */
    static final int B_BLOCK = 1 << 18;
    /** M block: bounds the packed A buffer; the B block is reused across all of it. */
    static final int MC = 512;

    /** Below this many multiply-adds one thread is faster than waking the pool. */
    private static final long PARALLEL_MIN_WORK = 1L << 18;

    /**
     * Chunks of the split dimension per thread. Two, not four: a chunk of N columns reuses each packed A panel
     * across all its B panels. SgemmBench, 2 threads, the two quieter of three alternating runs: 1024 x 1152 x 384
     * 270-274 vs 233-257 GFLOP/s, dW 384 x 1152 x 1024 258-276 vs 239-240; the other shapes within the noise.
     * Two still let a thread that finishes early take the other's second chunk.
     */
    private static final int CHUNKS_PER_THREAD = 2;

    /** Panels per work item of the packing pass. */
    private static final int PACK_GROUP = 4;

    /** Floats of the shared packed operand per pass over K (16 MiB). */
    private static final int SHARED_MAX = 1 << 22;

    /** Per-thread buffers, allocated once and reused by every call on that thread. */
    private static final class Scratch {
        /** This thread's chunk of the split operand, packed for one KC block. */
        final float[] pack = new float[Math.max(KC * MC, B_BLOCK)];
        /** Edge tiles are computed here in full, then their valid part is copied to C. */
        final float[] edge = new float[MR * NR];
        /** The shared packed operand of the calls this thread makes. */
        float[] shared = new float[0];
        /** A packed for {@link #sgemmPackedB}, whose K is not cut into blocks. */
        float[] wide = new float[0];
        /** Gather offsets of a row-major A panel (see packA) for row stride aMapLd. */
        final int[] aMap = new int[3 * VL];
        int aMapLd = -1;
        /** Gather offsets of a transposed B panel (see packB) for row stride bMapLd. */
        final int[] bMap = new int[NR];
        int bMapLd = -1;
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Sgemm() {}

    /**
     * C[M,N] (+)= op(A) . op(B). A is [M,K] ([K,M] when transA), B is [K,N] ([N,K] when transB);
     * lda, ldb, ldc are the row strides of A, B, C as stored. accumulate=false overwrites C.
     */
    public static void sgemm(boolean transA, boolean transB, int M, int N, int K,
                             float[] A, int aOff, int lda, float[] B, int bOff, int ldb,
                             float[] C, int cOff, int ldc, boolean accumulate) {
        checkArgs(transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            if (!accumulate) {
                for (int i = 0; i < M; i++) {
                    java.util.Arrays.fill(C, cOff + i * ldc, cOff + i * ldc + N, 0f);
                }
            }
            return;
        }
        boolean splitM = M >= N;
        // The operand along the split dimension is packed chunk by chunk by whichever thread
        // computes the chunk; the other one ("shared") is packed once and read by all threads.
        int sharedPanels = splitM ? (N + NR - 1) / NR : (M + MR - 1) / MR;
        int sharedPad = splitM ? sharedPanels * NR : sharedPanels * MR;
        int chunkUnit = splitM ? MR : NR;
        int splitLen = splitM ? M : N;
        boolean parallel = (long) M * N * K >= PARALLEL_MIN_WORK && Parallel.threads() > 1;
        int kcb = kBlock(K);
        int units = (splitLen + chunkUnit - 1) / chunkUnit;
        int chunks = chunks(splitM, units, kcb, parallel ? Parallel.threads() : 1);
        // Pack at most SHARED_MAX floats of the shared operand at a time: a whole K of a 50257
        // vocabulary would otherwise be a 77 MB buffer.
        int kSuper = Math.max(kcb, Math.min(roundUp(K, kcb), SHARED_MAX / sharedPad / kcb * kcb));
        float[] shared = sharedBuffer(Math.min(kSuper, K) * sharedPad);
        for (int ks = 0; ks < K; ks += kSuper) {
            int kLen = Math.min(kSuper, K - ks);
            // The first pass over K writes C unless accumulating; later passes add to it.
            boolean add = accumulate || ks > 0;
            int fks = ks;
            // Packing pass: panel groups of the shared operand for every KC block of this pass.
            int groups = (sharedPanels + PACK_GROUP - 1) / PACK_GROUP;
            IndexBody pack = g -> {
                int p0 = g * PACK_GROUP, p1 = Math.min(sharedPanels, p0 + PACK_GROUP);
                for (int kb = 0; kb * kcb < kLen; kb++) {
                    int k0 = fks + kb * kcb, kc = Math.min(kcb, kLen - kb * kcb);
                    int base = kb * kcb * sharedPad;
                    if (splitM) {
                        packB(transB, B, bOff, ldb, k0, kc, p0 * NR, Math.min(N, p1 * NR) - p0 * NR,
                                shared, base + p0 * NR * kc);
                    } else {
                        packA(transA, A, aOff, lda, p0 * MR, Math.min(M, p1 * MR) - p0 * MR, k0, kc,
                                shared, base + p0 * MR * kc);
                    }
                }
            };
            IndexBody compute = c -> {
                // chunk c is units [c * units / chunks, (c + 1) * units / chunks): sizes differ by at most one unit
                int lo = (int) ((long) c * units / chunks) * chunkUnit;
                int hi = Math.min(splitLen, (int) ((long) (c + 1) * units / chunks) * chunkUnit);
                if (splitM) {
                    rowChunk(transA, lo, hi, N, fks, kLen, kcb, A, aOff, lda, shared, sharedPad, C, cOff, ldc, add);
                } else {
                    colChunk(transB, lo, hi, M, fks, kLen, kcb, B, bOff, ldb, shared, sharedPad, C, cOff, ldc, add);
                }
            };
            if (parallel) {
                Parallel.parallelForDynamic(groups, pack);
                Parallel.parallelForDynamic(chunks, compute);
            } else {
                for (int g = 0; g < groups; g++) {
                    pack.run(g);
                }
                for (int c = 0; c < chunks; c++) {
                    compute.run(c);
                }
            }
        }
    }

    /**
     * Packs all of op(B) ([K,N]; B is [N,K] when transB) as panels of NR columns, each k-major with
     * K rows, into {@code dst} (at least {@link #packedBSize}(K, N) floats): the layout that
     * {@link #sgemmPackedB} reads, for products that reuse one B several times.
     */
    static void packWholeB(boolean transB, int K, int N, float[] B, int bOff, int ldb, float[] dst) {
        checkMatrix("B", B, bOff, ldb, transB ? N : K, transB ? K : N);
        packB(transB, B, bOff, ldb, 0, K, 0, N, dst, 0);
    }

    /** Floats of op(B) [K,N] packed by {@link #packWholeB}. */
    static int packedBSize(int K, int N) {
        return roundUp(N, NR) * K;
    }

    /**
     * C[M,N] (+)= op(A)[M,K] . B[0:K, 0:N] on the calling thread, where B was packed by
     * {@link #packWholeB} with {@code kPacked} >= K rows and at least N columns: the product uses
     * the first K rows and N columns of the packed matrix. One block of K, so K <= kPacked.
     */
    static void sgemmPackedB(boolean transA, int M, int N, int K, float[] A, int aOff, int lda,
                             float[] bPacked, int kPacked, float[] C, int cOff, int ldc, boolean accumulate) {
        if (K > kPacked || (long) roundUp(N, NR) * kPacked > bPacked.length) {
            throw new IllegalArgumentException("sgemmPackedB: K=" + K + " N=" + N + " beyond the packed "
                    + kPacked + " rows of " + bPacked.length + " floats");
        }
        checkMatrix("A", A, aOff, lda, transA ? K : M, transA ? M : K);
        checkMatrix("C", C, cOff, ldc, M, N);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            if (!accumulate) {
                for (int i = 0; i < M; i++) {
                    java.util.Arrays.fill(C, cOff + i * ldc, cOff + i * ldc + N, 0f);
                }
            }
            return;
        }
        Scratch s = SCRATCH.get();
        int need = roundUp(M, MR) * K;
        if (s.wide.length < need) {
            s.wide = new float[need];
        }
        float[] aPack = s.wide;
        packA(transA, A, aOff, lda, 0, M, 0, K, aPack, 0);
        for (int i = 0; i < M; i += MR) {
            for (int j = 0; j < N; j += NR) {
                tile(K, aPack, i * K, bPacked, j * kPacked, Math.min(MR, M - i), Math.min(NR, N - j),
                        C, cOff + i * ldc + j, ldc, accumulate, s.edge);
            }
        }
    }

    /**
     * How many chunks the split dimension's {@code units} (panels of MR rows or NR columns) are cut into: about
     * {@link #CHUNKS_PER_THREAD} per thread and a multiple of the thread count, so that the threads get equal
     * shares, yet each chunk's part of the split operand fits its packing buffer (at most MC rows, or the
     * columns of one B_BLOCK) and a row chunk keeps at least 4 panels. One thread takes as few chunks as fit.
     */
    static int chunks(boolean splitM, int units, int kcb, int threads) {
        int maxUnits = splitM ? MC / MR : Math.max(1, B_BLOCK / kcb / NR);
        int fewest = (units + maxUnits - 1) / maxUnits;
        if (threads == 1) {
            return fewest;
        }
        int minUnits = splitM ? 4 : 1;
        int chunks = Math.max(fewest, Math.min(CHUNKS_PER_THREAD * threads, Math.max(1, units / minUnits)));
        int rounded = (chunks + threads - 1) / threads * threads;
        return rounded <= units ? rounded : chunks;
    }

    /** Rows [r0, r1) of C against all N columns, with B packed in {@code bShared}. */
    private static void rowChunk(boolean transA, int r0, int r1, int N, int ks, int kLen, int kcb,
                                 float[] A, int aOff, int lda, float[] bShared, int nPad,
                                 float[] C, int cOff, int ldc, boolean add) {
        Scratch s = SCRATCH.get();
        float[] aPack = s.pack;
        // N in blocks of nc so that the part of packed B in use stays in L2.
        int nc = Math.max(NR, B_BLOCK / kcb / NR * NR);
        for (int kb = 0; kb * kcb < kLen; kb++) {
            int kc = Math.min(kcb, kLen - kb * kcb);
            packA(transA, A, aOff, lda, r0, r1 - r0, ks + kb * kcb, kc, aPack, 0);
            int bBase = kb * kcb * nPad;
            boolean addK = add || kb > 0;
            for (int j0 = 0; j0 < N; j0 += nc) {
                int j1 = Math.min(N, j0 + nc);
                for (int i = r0; i < r1; i += MR) {
                    int ao = (i - r0) * kc;
                    for (int j = j0; j < j1; j += NR) {
                        tile(kc, aPack, ao, bShared, bBase + j * kc, Math.min(MR, r1 - i), Math.min(NR, j1 - j),
                                C, cOff + i * ldc + j, ldc, addK, s.edge);
                    }
                }
            }
        }
    }

    /** Columns [c0, c1) of C against all M rows, with A packed in {@code aShared}. */
    private static void colChunk(boolean transB, int c0, int c1, int M, int ks, int kLen, int kcb,
                                 float[] B, int bOff, int ldb, float[] aShared, int mPad,
                                 float[] C, int cOff, int ldc, boolean add) {
        Scratch s = SCRATCH.get();
        float[] bPack = s.pack;
        for (int kb = 0; kb * kcb < kLen; kb++) {
            int kc = Math.min(kcb, kLen - kb * kcb);
            packB(transB, B, bOff, ldb, ks + kb * kcb, kc, c0, c1 - c0, bPack, 0);
            int aBase = kb * kcb * mPad;
            boolean addK = add || kb > 0;
            for (int i = 0; i < M; i += MR) {
                int ao = aBase + i * kc;
                for (int j = c0; j < c1; j += NR) {
                    tile(kc, aShared, ao, bPack, (j - c0) * kc, Math.min(MR, M - i), Math.min(NR, c1 - j),
                            C, cOff + i * ldc + j, ldc, addK, s.edge);
                }
            }
        }
    }

    /** One MR x NR tile of C; an edge tile (mr < MR or nr < NR) goes through a scratch tile. */
    private static void tile(int kc, float[] a, int ao, float[] b, int bo, int mr, int nr,
                             float[] c, int co, int ldc, boolean add, float[] edge) {
        if (mr == MR && nr == NR) {
            if (add) {
                kernel(kc, a, ao, b, bo, c, co, ldc);
            } else {
                kernelZero(kc, a, ao, b, bo, c, co, ldc);
            }
        } else {
            kernelZero(kc, a, ao, b, bo, edge, 0, NR);
            storeEdge(edge, mr, nr, c, co, ldc, add);
        }
    }

    /** The caller's buffer for the shared packed operand, grown on demand and kept. */
    private static float[] sharedBuffer(int size) {
        Scratch s = SCRATCH.get();
        if (s.shared.length < size) {
            s.shared = new float[size];
        }
        return s.shared;
    }

    /**
     * The register tile: C[0:MR, 0:NR] += Apanel . Bpanel over kc steps. Apanel is k-major
     * (MR floats per k), Bpanel is k-major (NR floats per k). Written out by hand because the
     * accumulators must be locals for C2 to keep them in registers, and kept free of branches
     * and helper calls: in a bigger method C2 hit its inlining node limit on some runs, boxed
     * the vectors and ran 50x slower.
     */
    private static void kernel(int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc) {
        int o0 = co, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc, o4 = o3 + ldc, o5 = o4 + ldc, o6 = o5 + ldc, o7 = o6 + ldc, o8 = o7 + ldc, o9 = o8 + ldc, o10 = o9 + ldc, o11 = o10 + ldc;
        FloatVector c00 = FloatVector.fromArray(S, c, o0), c01 = FloatVector.fromArray(S, c, o0 + VL);
        FloatVector c10 = FloatVector.fromArray(S, c, o1), c11 = FloatVector.fromArray(S, c, o1 + VL);
        FloatVector c20 = FloatVector.fromArray(S, c, o2), c21 = FloatVector.fromArray(S, c, o2 + VL);
        FloatVector c30 = FloatVector.fromArray(S, c, o3), c31 = FloatVector.fromArray(S, c, o3 + VL);
        FloatVector c40 = FloatVector.fromArray(S, c, o4), c41 = FloatVector.fromArray(S, c, o4 + VL);
        FloatVector c50 = FloatVector.fromArray(S, c, o5), c51 = FloatVector.fromArray(S, c, o5 + VL);
        FloatVector c60 = FloatVector.fromArray(S, c, o6), c61 = FloatVector.fromArray(S, c, o6 + VL);
        FloatVector c70 = FloatVector.fromArray(S, c, o7), c71 = FloatVector.fromArray(S, c, o7 + VL);
        FloatVector c80 = FloatVector.fromArray(S, c, o8), c81 = FloatVector.fromArray(S, c, o8 + VL);
        FloatVector c90 = FloatVector.fromArray(S, c, o9), c91 = FloatVector.fromArray(S, c, o9 + VL);
        FloatVector c100 = FloatVector.fromArray(S, c, o10), c101 = FloatVector.fromArray(S, c, o10 + VL);
        FloatVector c110 = FloatVector.fromArray(S, c, o11), c111 = FloatVector.fromArray(S, c, o11 + VL);
        for (int k = 0; k < kc; k++) {
            // offsets linear in k, so C2 can hoist the range checks of B out of the loop
            int ak = ao + k * MR, bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + VL);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
            x = FloatVector.broadcast(S, a[ak + 8]);
            c80 = x.fma(b0, c80); c81 = x.fma(b1, c81);
            x = FloatVector.broadcast(S, a[ak + 9]);
            c90 = x.fma(b0, c90); c91 = x.fma(b1, c91);
            x = FloatVector.broadcast(S, a[ak + 10]);
            c100 = x.fma(b0, c100); c101 = x.fma(b1, c101);
            x = FloatVector.broadcast(S, a[ak + 11]);
            c110 = x.fma(b0, c110); c111 = x.fma(b1, c111);
        }
        c00.intoArray(c, o0); c01.intoArray(c, o0 + VL);
        c10.intoArray(c, o1); c11.intoArray(c, o1 + VL);
        c20.intoArray(c, o2); c21.intoArray(c, o2 + VL);
        c30.intoArray(c, o3); c31.intoArray(c, o3 + VL);
        c40.intoArray(c, o4); c41.intoArray(c, o4 + VL);
        c50.intoArray(c, o5); c51.intoArray(c, o5 + VL);
        c60.intoArray(c, o6); c61.intoArray(c, o6 + VL);
        c70.intoArray(c, o7); c71.intoArray(c, o7 + VL);
        c80.intoArray(c, o8); c81.intoArray(c, o8 + VL);
        c90.intoArray(c, o9); c91.intoArray(c, o9 + VL);
        c100.intoArray(c, o10); c101.intoArray(c, o10 + VL);
        c110.intoArray(c, o11); c111.intoArray(c, o11 + VL);
    }

    /** {@link #kernel} with the tile starting from zero instead of from C: C is only written. */
    private static void kernelZero(int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc) {
        FloatVector z = FloatVector.zero(S);
        int o0 = co, o1 = o0 + ldc, o2 = o1 + ldc, o3 = o2 + ldc, o4 = o3 + ldc, o5 = o4 + ldc, o6 = o5 + ldc, o7 = o6 + ldc, o8 = o7 + ldc, o9 = o8 + ldc, o10 = o9 + ldc, o11 = o10 + ldc;
        FloatVector c00 = z, c01 = z;
        FloatVector c10 = z, c11 = z;
        FloatVector c20 = z, c21 = z;
        FloatVector c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z;
        FloatVector c50 = z, c51 = z;
        FloatVector c60 = z, c61 = z;
        FloatVector c70 = z, c71 = z;
        FloatVector c80 = z, c81 = z;
        FloatVector c90 = z, c91 = z;
        FloatVector c100 = z, c101 = z;
        FloatVector c110 = z, c111 = z;
        for (int k = 0; k < kc; k++) {
            // offsets linear in k, so C2 can hoist the range checks of B out of the loop
            int ak = ao + k * MR, bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + VL);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
            x = FloatVector.broadcast(S, a[ak + 8]);
            c80 = x.fma(b0, c80); c81 = x.fma(b1, c81);
            x = FloatVector.broadcast(S, a[ak + 9]);
            c90 = x.fma(b0, c90); c91 = x.fma(b1, c91);
            x = FloatVector.broadcast(S, a[ak + 10]);
            c100 = x.fma(b0, c100); c101 = x.fma(b1, c101);
            x = FloatVector.broadcast(S, a[ak + 11]);
            c110 = x.fma(b0, c110); c111 = x.fma(b1, c111);
        }
        c00.intoArray(c, o0); c01.intoArray(c, o0 + VL);
        c10.intoArray(c, o1); c11.intoArray(c, o1 + VL);
        c20.intoArray(c, o2); c21.intoArray(c, o2 + VL);
        c30.intoArray(c, o3); c31.intoArray(c, o3 + VL);
        c40.intoArray(c, o4); c41.intoArray(c, o4 + VL);
        c50.intoArray(c, o5); c51.intoArray(c, o5 + VL);
        c60.intoArray(c, o6); c61.intoArray(c, o6 + VL);
        c70.intoArray(c, o7); c71.intoArray(c, o7 + VL);
        c80.intoArray(c, o8); c81.intoArray(c, o8 + VL);
        c90.intoArray(c, o9); c91.intoArray(c, o9 + VL);
        c100.intoArray(c, o10); c101.intoArray(c, o10 + VL);
        c110.intoArray(c, o11); c111.intoArray(c, o11 + VL);
    }

    /** Copies the valid mr x nr corner of an edge tile into C. */
    private static void storeEdge(float[] edge, int mr, int nr, float[] c, int co, int ldc, boolean add) {
        for (int r = 0; r < mr; r++) {
            int e = r * NR;
            int o = co + r * ldc;
            if (add) {
                for (int j = 0; j < nr; j++) {
                    c[o + j] += edge[e + j];
                }
            } else {
                System.arraycopy(edge, e, c, o, nr);
            }
        }
    }

    /**
     * Packs op(A)[i0:i0+mc, k0:k0+kc] as panels of MR rows, each k-major: panel p holds, for each
     * k, the MR values op(A)[i0+p*MR+r, k0+k]; rows past mc are zero.
     */
    private static void packA(boolean transA, float[] A, int aOff, int lda, int i0, int mc,
                              int k0, int kc, float[] aPack, int aPackOff) {
        if (transA) {
            // A is [K,M]: row k of A holds the k-th element of every panel. Walk A row by row, so
            // reads are sequential; panel by panel would stride through K rows of A per panel.
            for (int k = 0; k < kc; k++) {
                int src = aOff + (k0 + k) * lda + i0;
                for (int p0 = 0; p0 < mc; p0 += MR) {
                    int mr = Math.min(MR, mc - p0);
                    int d = aPackOff + p0 * kc + k * MR;
                    // One vector of VL > MR values: the lanes past MR land in the slot of k + 1,
                    // which is written after this one (so not for the panel's last k).
                    if (VL >= MR && mr == MR && k + 1 < kc && src + p0 + VL <= A.length) {
                        FloatVector.fromArray(S, A, src + p0).intoArray(aPack, d);
                        continue;
                    }
                    for (int r = 0; r < mr; r++) {
                        aPack[d + r] = A[src + p0 + r];
                    }
                    for (int r = mr; r < MR; r++) {
                        aPack[d + r] = 0f;
                    }
                }
            }
            return;
        }
        // A is [M,K]: a panel is the transpose of MR rows. With 16 lanes, 4 values of k of a full
        // panel (48 floats) are 3 vector gathers whose lane offsets are fixed for a row stride
        // (measured: 0.30 vs 0.56 ns per float for the one-float-at-a-time loop below).
        int[] map = null;
        if (VL == 16) {
            Scratch s = SCRATCH.get();
            map = s.aMap;
            if (s.aMapLd != lda) {
                for (int p = 0; p < map.length; p++) {
                    map[p] = (p % MR) * lda + p / MR;
                }
                s.aMapLd = lda;
            }
        }
        for (int p0 = 0; p0 < mc; p0 += MR) {
            int mr = Math.min(MR, mc - p0);
            int dst = aPackOff + p0 * kc;
            int kDone = 0;
            if (map != null && mr == MR) {
                int src = aOff + (i0 + p0) * lda + k0;
                for (; kDone + 4 <= kc; kDone += 4) {
                    int d = dst + kDone * MR;
                    FloatVector.fromArray(S, A, src + kDone, map, 0).intoArray(aPack, d);
                    FloatVector.fromArray(S, A, src + kDone, map, VL).intoArray(aPack, d + VL);
                    FloatVector.fromArray(S, A, src + kDone, map, 2 * VL).intoArray(aPack, d + 2 * VL);
                }
            }
            for (int r = 0; r < mr; r++) {
                int src = aOff + (i0 + p0 + r) * lda + k0;
                for (int k = kDone; k < kc; k++) {
                    aPack[dst + k * MR + r] = A[src + k];
                }
            }
            for (int r = mr; r < MR; r++) {
                for (int k = 0; k < kc; k++) {
                    aPack[dst + k * MR + r] = 0f;
                }
            }
        }
    }

    /**
     * Packs op(B)[k0:k0+kc, j0:j0+nc] as panels of NR columns, each k-major: panel p holds, for
     * each k, the NR values op(B)[k0+k, j0+p*NR+j]; columns past nc are zero.
     */
    private static void packB(boolean transB, float[] B, int bOff, int ldb, int k0, int kc,
                              int j0, int nc, float[] bPack, int bPackOff) {
        int[] map = null;
        if (transB) {
            // B is [N,K]: the NR values of one k of a full panel are two gathers, lane j at
            // offset j * ldb (like the A gathers in packA)
            Scratch s = SCRATCH.get();
            map = s.bMap;
            if (s.bMapLd != ldb) {
                for (int j = 0; j < NR; j++) {
                    map[j] = j * ldb;
                }
                s.bMapLd = ldb;
            }
        }
        for (int p0 = 0; p0 < nc; p0 += NR) {
            int nr = Math.min(NR, nc - p0);
            int dst = bPackOff + p0 * kc;
            if (transB && nr == NR) {
                int src = bOff + (j0 + p0) * ldb + k0;
                for (int k = 0; k < kc; k++) {
                    int d = dst + k * NR;
                    FloatVector.fromArray(S, B, src + k, map, 0).intoArray(bPack, d);
                    FloatVector.fromArray(S, B, src + k, map, VL).intoArray(bPack, d + VL);
                }
            } else if (transB) {
                // B is [N,K]: each of the panel's columns is a contiguous run of K in B.
                for (int j = 0; j < nr; j++) {
                    int src = bOff + (j0 + p0 + j) * ldb + k0;
                    for (int k = 0; k < kc; k++) {
                        bPack[dst + k * NR + j] = B[src + k];
                    }
                }
                for (int j = nr; j < NR; j++) {
                    for (int k = 0; k < kc; k++) {
                        bPack[dst + k * NR + j] = 0f;
                    }
                }
            } else if (nr == NR) {
                for (int k = 0; k < kc; k++) {
                    int src = bOff + (k0 + k) * ldb + j0 + p0;
                    int d = dst + k * NR;
                    FloatVector.fromArray(S, B, src).intoArray(bPack, d);
                    FloatVector.fromArray(S, B, src + VL).intoArray(bPack, d + VL);
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    int src = bOff + (k0 + k) * ldb + j0 + p0;
                    int d = dst + k * NR;
                    System.arraycopy(B, src, bPack, d, nr);
                    java.util.Arrays.fill(bPack, d + nr, d + NR, 0f);
                }
            }
        }
    }

    /** The K block for a product over K: K cut into the fewest blocks of at most KC, equal to within one. */
    static int kBlock(int K) {
        int blocks = (K + KC - 1) / KC;
        return (K + blocks - 1) / blocks;
    }

    private static int roundUp(int x, int m) {
        return (x + m - 1) / m * m;
    }

    /** Fails fast with the shape that does not fit, instead of an index error deep in a kernel. */
    private static void checkArgs(boolean transA, boolean transB, int M, int N, int K,
                                  float[] A, int aOff, int lda, float[] B, int bOff, int ldb,
                                  float[] C, int cOff, int ldc) {
        if (M < 0 || N < 0 || K < 0) {
            throw new IllegalArgumentException("sgemm: negative size M=" + M + " N=" + N + " K=" + K);
        }
        if (M == 0 || N == 0) {
            return;
        }
        checkMatrix("A", A, aOff, lda, transA ? K : M, transA ? M : K);
        checkMatrix("B", B, bOff, ldb, transB ? N : K, transB ? K : N);
        checkMatrix("C", C, cOff, ldc, M, N);
    }

    private static void checkMatrix(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows == 0 || cols == 0) {
            return;
        }
        if (off < 0 || ld < cols || (long) off + (long) (rows - 1) * ld + cols > x.length) {
            throw new IllegalArgumentException("sgemm: " + name + " [" + rows + "," + cols + "] at offset "
                    + off + " with row stride " + ld + " does not fit in an array of " + x.length);
        }
    }

    /**
     * The plain definition, for tests: same contract as {@link #sgemm}, one thread, sums in double.
     */
    public static void sgemmReference(boolean transA, boolean transB, int M, int N, int K,
                                      float[] A, int aOff, int lda, float[] B, int bOff, int ldb,
                                      float[] C, int cOff, int ldc, boolean accumulate) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double sum = 0;
                for (int k = 0; k < K; k++) {
                    float a = transA ? A[aOff + k * lda + i] : A[aOff + i * lda + k];
                    float b = transB ? B[bOff + j * ldb + k] : B[bOff + k * ldb + j];
                    sum += (double) a * b;
                }
                int o = cOff + i * ldc + j;
                C[o] = accumulate ? (float) (C[o] + sum) : (float) sum;
            }
        }
    }
}
