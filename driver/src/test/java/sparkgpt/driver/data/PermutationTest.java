// The shuffle's permutation: a bijection on [0, n) for any n, a different order for every key, and no
// position favoured (what a Fisher-Yates shuffle gives, without its array of n entries).
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.BitSet;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PermutationTest {

    @Test
    void everySizeIsABijection() {
        // odd and even bit counts, powers of two and 4 and one past them, where the cycle-walk is longest
        for (long n : new long[] {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 1000, 4095, 4096, 4097, 65537, 200_003}) {
            for (long key : new long[] {0, 1, Permutation.key(1337, 0, 0), Permutation.key(1337, 5, 3)}) {
                Permutation perm = new Permutation(n, key);
                BitSet seen = new BitSet();
                for (long i = 0; i < n; i++) {
                    long v = perm.at(i);
                    assertTrue(v >= 0 && v < n, "n " + n + ": at(" + i + ") = " + v);
                    assertFalse(seen.get((int) v), "n " + n + ": " + v + " twice");
                    seen.set((int) v);
                }
            }
        }
        assertThrows(IndexOutOfBoundsException.class, () -> new Permutation(10, 0).at(10));
    }

    @Test
    void hugeDomainsStayInRange() {
        // 10^13 windows (a 10^16-token corpus at T = 1024) and the largest count a long holds: no array, no overflow
        for (long n : new long[] {10_000_000_000_000L, Long.MAX_VALUE}) {
            Permutation perm = new Permutation(n, Permutation.key(7, 0, 1));
            Set<Long> seen = new HashSet<>();
            for (long i = 0; i < 10_000; i++) {
                long v = perm.at(n - 1 - i * (n / 10_001));
                assertTrue(v >= 0 && v < n, "at = " + v);
                assertTrue(seen.add(v), v + " twice");
            }
        }
    }

    @Test
    void eachKeyItsOwnOrder() {
        long n = 3_547; // the default corpus's windows
        Set<String> prefixes = new HashSet<>();
        for (int partition = 0; partition < 4; partition++) {
            for (long epoch = 0; epoch < 4; epoch++) {
                Permutation perm = new Permutation(n, Permutation.key(1337, epoch, partition));
                StringBuilder first = new StringBuilder();
                for (int i = 0; i < 8; i++) first.append(perm.at(i)).append(',');
                prefixes.add(first.toString());
            }
        }
        assertEquals(16, prefixes.size(), "every (epoch, partition) starts its epoch differently");
        assertNotEquals(Permutation.key(1, 0, 0), Permutation.key(2, 0, 0));
    }

    @Test
    void positionsAreUniform() {
        // over 4,000 keys, where position 0 and position n-1 land among 10 equal buckets: a chi-square test
        // at 9 degrees of freedom (p = 0.001 at 27.9); and the mean distance moved, n/3 for a uniform shuffle
        long n = 1_000;
        int keys = 4_000;
        int[][] buckets = new int[2][10];
        double moved = 0;
        for (int k = 0; k < keys; k++) {
            Permutation perm = new Permutation(n, Permutation.key(k, 0, 0));
            buckets[0][(int) (perm.at(0) * 10 / n)]++;
            buckets[1][(int) (perm.at(n - 1) * 10 / n)]++;
            for (int i = 0; i < n; i += 97) moved += Math.abs(perm.at(i) - i);
        }
        for (int[] b : buckets) {
            double chi2 = 0, expected = keys / 10.0;
            for (int c : b) chi2 += (c - expected) * (c - expected) / expected;
            assertTrue(chi2 < 27.9, "chi-square " + chi2 + " over " + java.util.Arrays.toString(b));
        }
        double mean = moved / (keys * ((n + 96) / 97));
        assertEquals(n / 3.0, mean, n * 0.02, "mean distance a window moves");
    }
}
