// Multithreaded fp32 matrix multiply for the cpu backend, in pure Java with the Vector API:
// the forward and backward matmuls of every GPT-2 layer go through sgemm().
package sparkgpt.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * C[M,N] (+)= op(A) . op(B), row-major, with array offsets and row strides.
 *
 * <p>The structure is the Goto/BLIS one (Goto and van de Geijn, "Anatomy of high-performance
 * matrix multiplication", TOMS 2008): K is cut into blocks of {@link #KC}, N into blocks of
 * {@link #NC}; per block, op(B) is packed into panels of {@code NR} = two vectors of columns laid
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
    /** Rows per A panel: 8 rows x 2 vectors = 16 accumulators, of the 32 AVX-512 registers. */
    static final int MR = 8;
    /** K block: an A panel (MR x KC) stays in L1 while the B block streams past it. */
    static final int KC = 256;
    /** N block: a packed KC x NC block of B (1 MiB) stays in L2 (2 MiB per core here). */
    static final int NC = 1024;
    /** M block: bounds the packed A buffer; the B block is reused across all of it. */
    static final int MC = 512;

    /** Below this many multiply-adds one thread is faster than waking the pool. */
    private static final long PARALLEL_MIN_WORK = 1L << 18;

    /** Per-thread packing buffers, allocated once and reused by every call on that thread. */
    private static final ThreadLocal<float[][]> BUFFERS = ThreadLocal.withInitial(
            () -> new float[][] {new float[MC * KC], new float[KC * roundUp(NC, NR)], new float[MR * NR]});

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
        long work = (long) M * N * K;
        int threads = work < PARALLEL_MIN_WORK ? 1 : Parallel.threads();
        if (threads == 1) {
            block(transA, transB, 0, M, 0, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate);
        } else if (M >= N) {
            int blocks = (M + MR - 1) / MR;
            Parallel.parallelFor(blocks, (b0, b1) -> block(transA, transB, b0 * MR, Math.min(M, b1 * MR),
                    0, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate));
        } else {
            int blocks = (N + NR - 1) / NR;
            Parallel.parallelFor(blocks, (b0, b1) -> block(transA, transB, 0, M, b0 * NR,
                    Math.min(N, b1 * NR), K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate));
        }
    }

    /** One thread's share: rows [m0, m1) and columns [n0, n1) of C, over all of K. */
    private static void block(boolean transA, boolean transB, int m0, int m1, int n0, int n1, int K,
                              float[] A, int aOff, int lda, float[] B, int bOff, int ldb,
                              float[] C, int cOff, int ldc, boolean accumulate) {
        float[][] buffers = BUFFERS.get();
        float[] aPack = buffers[0];
        float[] bPack = buffers[1];
        float[] edge = buffers[2];
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = Math.min(KC, K - k0);
            // The first K block writes C unless accumulating; later ones add what it wrote.
            boolean add = accumulate || k0 > 0;
            for (int j0 = n0; j0 < n1; j0 += NC) {
                int nc = Math.min(NC, n1 - j0);
                packB(transB, B, bOff, ldb, k0, kc, j0, nc, bPack);
                for (int i0 = m0; i0 < m1; i0 += MC) {
                    int mc = Math.min(MC, m1 - i0);
                    packA(transA, A, aOff, lda, i0, mc, k0, kc, aPack);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = Math.min(MR, mc - ir);
                        int ao = ir * kc;
                        for (int jr = 0; jr < nc; jr += NR) {
                            int nr = Math.min(NR, nc - jr);
                            int bo = jr * kc;
                            int co = cOff + (i0 + ir) * ldc + j0 + jr;
                            if (mr == MR && nr == NR) {
                                kernel(kc, aPack, ao, bPack, bo, C, co, ldc, add);
                            } else {
                                kernel(kc, aPack, ao, bPack, bo, edge, 0, NR, false);
                                storeEdge(edge, mr, nr, C, co, ldc, add);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The register tile: C[0:MR, 0:NR] (+)= Apanel . Bpanel over kc steps. Apanel is k-major
     * (MR floats per k), Bpanel is k-major (NR floats per k). Written out by hand because the
     * accumulators must be locals for C2 to keep them in registers.
     */
    private static void kernel(int kc, float[] a, int ao, float[] b, int bo,
                               float[] c, int co, int ldc, boolean add) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        for (int k = 0; k < kc; k++, ao += MR, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + VL);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ao]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ao + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ao + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ao + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ao + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ao + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, a[ao + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, a[ao + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        // Stores written out inline too: a helper taking vectors, if C2 declines to inline it
        // (node-count cutoff in this large method), forces the accumulators to be boxed.
        int c1 = co + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
        if (add) {
            c00 = c00.add(FloatVector.fromArray(S, c, co)); c01 = c01.add(FloatVector.fromArray(S, c, co + VL));
            c10 = c10.add(FloatVector.fromArray(S, c, c1)); c11 = c11.add(FloatVector.fromArray(S, c, c1 + VL));
            c20 = c20.add(FloatVector.fromArray(S, c, c2)); c21 = c21.add(FloatVector.fromArray(S, c, c2 + VL));
            c30 = c30.add(FloatVector.fromArray(S, c, c3)); c31 = c31.add(FloatVector.fromArray(S, c, c3 + VL));
            c40 = c40.add(FloatVector.fromArray(S, c, c4)); c41 = c41.add(FloatVector.fromArray(S, c, c4 + VL));
            c50 = c50.add(FloatVector.fromArray(S, c, c5)); c51 = c51.add(FloatVector.fromArray(S, c, c5 + VL));
            c60 = c60.add(FloatVector.fromArray(S, c, c6)); c61 = c61.add(FloatVector.fromArray(S, c, c6 + VL));
            c70 = c70.add(FloatVector.fromArray(S, c, c7)); c71 = c71.add(FloatVector.fromArray(S, c, c7 + VL));
        }
        c00.intoArray(c, co); c01.intoArray(c, co + VL);
        c10.intoArray(c, c1); c11.intoArray(c, c1 + VL);
        c20.intoArray(c, c2); c21.intoArray(c, c2 + VL);
        c30.intoArray(c, c3); c31.intoArray(c, c3 + VL);
        c40.intoArray(c, c4); c41.intoArray(c, c4 + VL);
        c50.intoArray(c, c5); c51.intoArray(c, c5 + VL);
        c60.intoArray(c, c6); c61.intoArray(c, c6 + VL);
        c70.intoArray(c, c7); c71.intoArray(c, c7 + VL);
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
                              int k0, int kc, float[] aPack) {
        for (int p0 = 0; p0 < mc; p0 += MR) {
            int mr = Math.min(MR, mc - p0);
            int dst = p0 * kc;
            if (transA) {
                // A is [K,M]: for each k, the panel's rows are contiguous in A.
                for (int k = 0; k < kc; k++) {
                    int src = aOff + (k0 + k) * lda + i0 + p0;
                    int d = dst + k * MR;
                    for (int r = 0; r < mr; r++) {
                        aPack[d + r] = A[src + r];
                    }
                    for (int r = mr; r < MR; r++) {
                        aPack[d + r] = 0f;
                    }
                }
            } else {
                for (int r = 0; r < mr; r++) {
                    int src = aOff + (i0 + p0 + r) * lda + k0;
                    for (int k = 0; k < kc; k++) {
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
    }

    /**
     * Packs op(B)[k0:k0+kc, j0:j0+nc] as panels of NR columns, each k-major: panel p holds, for
     * each k, the NR values op(B)[k0+k, j0+p*NR+j]; columns past nc are zero.
     */
    private static void packB(boolean transB, float[] B, int bOff, int ldb, int k0, int kc,
                              int j0, int nc, float[] bPack) {
        for (int p0 = 0; p0 < nc; p0 += NR) {
            int nr = Math.min(NR, nc - p0);
            int dst = p0 * kc;
            if (transB) {
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
