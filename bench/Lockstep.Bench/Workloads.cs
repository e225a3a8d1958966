using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Bench;

/// <summary>The programs both modes measure, with their analytic Mazurkiewicz trace counts where known.</summary>
public static class Workloads
{
    public sealed record Workload(string Name, Func<Func<SimTask>> Model, long? Optimal);

    public static readonly Workload[] Analytic =
    {
        new("IndependentWriters(6)", () => Programs.IndependentWriters(6), 1),
        new("WritersOfOneVariable(6)", () => Programs.WritersOfOneVariable(6), Factorial(6)),
        new("WriterAndReaders(8)", () => Programs.WriterAndReaders(8), 1L << 8),
        new("LockedIncrements(5)", () => Programs.LockedIncrements(5), Factorial(5)),
        new("TwoThreadsTenSteps()", Programs.TwoThreadsTenSteps, null),
    };

    public static long Factorial(int n) => n <= 1 ? 1 : n * Factorial(n - 1);

    /// <summary>
    /// Brute-force trace count of TwoThreadsTenSteps: t0 does (write x, read y) x5, t1 (write y, read x) x5; the only
    /// conflicts are writes of x with reads of x and writes of y with reads of y. A trace is fixed by how many of the
    /// other thread's writes precede each read: enumerate the C(20,10) interleavings and count distinct signatures.
    /// </summary>
    public static long TwoThreadsTenStepsTraces()
    {
        var seen = new HashSet<ulong>();
        for (var mask = 0u; mask < 1u << 20; mask++)   // bit s set: step s of the interleaving is t1's
            if (System.Numerics.BitOperations.PopCount(mask) == 10) seen.Add(Signature(mask));
        return seen.Count;
    }

    private static ulong Signature(uint mask)
    {
        int i0 = 0, i1 = 0, writesX = 0, writesY = 0;
        ulong sig0 = 0, sig1 = 0;
        for (var s = 0; s < 20; s++)
        {
            if ((mask & (1u << s)) == 0)
            {
                if (i0 % 2 == 0) writesX++;
                else sig0 = sig0 * 6 + (ulong)writesY;
                i0++;
            }
            else
            {
                if (i1 % 2 == 0) writesY++;
                else sig1 = sig1 * 6 + (ulong)writesX;
                i1++;
            }
        }
        return sig0 * 10_000 + sig1;   // 6^5 = 7776 < 10,000
    }
}
