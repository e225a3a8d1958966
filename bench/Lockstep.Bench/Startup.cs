using System.Diagnostics;

namespace Lockstep.Bench;

/// <summary>
/// The user-script targets of issue 10: `lockstep check --patch examples/raw-gpc-lock.csx` on one small scenario (396
/// executions, ~0.05 s of exploring) gives its result within 3 s of the command with an empty script cache and within
/// 1 s with the compiled script cached. Each is the median of five fresh processes; the ratio to the target is printed.
/// </summary>
public static class Startup
{
    private const int Runs = 5;

    public static int Run()
    {
        var lockstep = Path.Combine(AppContext.BaseDirectory, "lockstep.dll");
        var example = Path.Combine(Results.Repository(), "examples", "raw-gpc-lock.csx");
        var args = $"\"{lockstep}\" check --patch \"{example}\" --config default --scenario munmap-vs-fault --quiet";
        Console.WriteLine($"lockstep {args[(lockstep.Length + 3)..]}   (median of {Runs} processes)");
        var none = Results.Median(Enumerable.Range(0, Runs).Select(_ => Time($"\"{lockstep}\" check --proposal mainline --config default --scenario munmap-vs-fault --quiet", null)));
        var cold = Results.Median(Enumerable.Range(0, Runs).Select(_ => Time(args, Directory.CreateTempSubdirectory("lockstep-bench-cold-").FullName)));
        var cache = Directory.CreateTempSubdirectory("lockstep-bench-cached-").FullName;
        Time(args, cache);
        var cached = Results.Median(Enumerable.Range(0, Runs).Select(_ => Time(args, cache)));
        Console.WriteLine($"{"built-in proposal (no script)",-32} {none,6:0.00} s");
        Console.WriteLine($"{"script, empty cache",-32} {cold,6:0.00} s   target 3 s, ratio {cold / 3:0.00}");
        Console.WriteLine($"{"script, cached",-32} {cached,6:0.00} s   target 1 s, ratio {cached / 1:0.00}");
        return cold <= 3 && cached <= 1 ? 0 : 1;
    }

    private static double Time(string args, string? cache)
    {
        var start = new ProcessStartInfo("dotnet", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (cache != null) start.Environment["LOCKSTEP_CACHE"] = cache;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(start)!;
        p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"lockstep {args} exited {p.ExitCode}: {error}");
        return clock.Elapsed.TotalSeconds;
    }
}
