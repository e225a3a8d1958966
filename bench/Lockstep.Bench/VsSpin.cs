using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Lockstep.Engine;

namespace Lockstep.Bench;

/// <summary>
/// Lockstep's DPOR against Spin's exhaustive search (spin -a; cc -O2 -DSAFETY; ./pan, partial-order reduction on) on the
/// notifier-like protocol (bench/spin/notifier.pml, <see cref="SharedPrograms.Notifier"/>) for I invalidators and F
/// faults, correct and with the planted bug: both must agree on the verdict. Writes bench/results/spin.csv.
/// </summary>
public static partial class VsSpin
{
    private static readonly (int I, int F)[] Sizes = { (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1) };
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(40);   // per Lockstep exploration

    private sealed record Pan(long States, long Transitions, bool Violation, double Seconds, double Search);

    public static int Run()
    {
        foreach (var (tool, package) in new[] { ("spin", "spin"), ("cc", "gcc") })
            if (!Exists(tool))
            {
                Console.Error.WriteLine($"Lockstep.Bench: '{tool}' is not installed (apt-get install -y {package})");
                return 3;
            }
        var pml = Path.Combine(Results.Repository(), "bench", "spin", "notifier.pml");
        var work = System.IO.Directory.CreateTempSubdirectory("lockstep-bench-spin-").FullName;
        var total = Stopwatch.StartNew();
        Console.WriteLine($"Lockstep DPOR vs Spin ({Version()}) exhaustive on the notifier-like protocol; {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine($"pan: cc -O2 -DSAFETY; pan s = its process's wall time (compiling not counted; most of it is allocating the default hash table), search s = what pan reports; Lockstep: DPOR in-process, capped at {Cap.TotalSeconds:0} s; planted bug: both stop at the first violation");
        Console.WriteLine($"{"I,F",-4} {"bug",-7} {"verdict",-9} {"states",9} {"transitions",11} {"pan s",7} {"search s",8} {"executions",10} {"steps",12} {"L s",7} {"exh",4} {"L/pan wall",10} {"L/search",8} {"steps/trans",11} {"agree",5}");
        Explorer.Explore(SharedPrograms.Notifier(1, 1, false), new DporStrategy(), new ExplorationOptions { Shrink = false });   // JIT
        var rows = new List<IReadOnlyList<object>>();
        var disagree = 0;
        foreach (var (i, f) in Sizes)
            foreach (var planted in new[] { false, true })
            {
                var pan = Spin(work, pml, i, f, planted);
                var clock = Stopwatch.StartNew();
                var r = Explorer.Explore(SharedPrograms.Notifier(i, f, planted), new DporStrategy(), new ExplorationOptions { Shrink = false, TimeLimit = Cap });
                var seconds = clock.Elapsed.TotalSeconds;
                var found = r.Violations.Count > 0;
                // a violation found agrees with Spin's; no violation agrees only if the exploration was complete
                var agree = found == pan.Violation && (found || r.Exhaustive);
                if (!agree) disagree++;
                var verdict = pan.Violation ? "violation" : "none";
                Console.WriteLine($"{i},{f,-2} {(planted ? "planted" : "-"),-7} {verdict,-9} {pan.States,9:N0} {pan.Transitions,11:N0} {pan.Seconds,7:0.000} {pan.Search,8:0.00} {r.Executions,10:N0} {r.Steps,12:N0} {seconds,7:0.000} {(r.Exhaustive ? "yes" : found ? "-" : "CAP"),4} {seconds / pan.Seconds,10:0.00} {(pan.Search >= 0.01 ? $"{seconds / pan.Search:0.0}" : "-"),8} {(double)r.Steps / pan.Transitions,11:0.0} {(agree ? "yes" : "NO"),5}");
                rows.Add(new object[] { i, f, planted, pan.Violation, pan.States, pan.Transitions, pan.Seconds, pan.Search, found, r.Executions, r.Steps, seconds, r.Exhaustive, !found && !r.Exhaustive, agree });
            }
        Console.WriteLine($"  -> {Results.WriteCsv("spin", new[] { "invalidators", "faults", "planted", "spin_violation", "spin_states", "spin_transitions", "pan_seconds", "pan_search_seconds", "lockstep_violation", "lockstep_executions", "lockstep_steps", "lockstep_seconds", "lockstep_exhaustive", "lockstep_capped", "agree" }, rows)}");
        System.IO.Directory.Delete(work, recursive: true);
        Console.WriteLine($"\nspin bench done in {total.Elapsed.TotalSeconds:0.0} s");
        return disagree == 0 ? 0 : 1;
    }

    private static Pan Spin(string work, string pml, int invalidators, int faults, bool planted)
    {
        var dir = Path.Combine(work, $"{invalidators}-{faults}{(planted ? "-planted" : "")}");
        System.IO.Directory.CreateDirectory(dir);
        Exec(dir, "spin", $"-DNI={invalidators} -DNF={faults}{(planted ? " -DPLANTED" : "")} -a {pml}");
        Exec(dir, "cc", "-O2 -DSAFETY -o pan pan.c");
        var clock = Stopwatch.StartNew();
        var output = Exec(dir, Path.Combine(dir, "pan"), "", okExit: true);
        var seconds = clock.Elapsed.TotalSeconds;
        long Number(Regex r) => long.Parse(r.Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var elapsed = Elapsed().Match(output);
        var search = elapsed.Success ? double.Parse(elapsed.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new Pan(Number(StatesStored()), Number(Transitions()), Number(Errors()) > 0, seconds, search);
    }

    private static string Exec(string dir, string file, string args, bool okExit = false)
    {
        var start = new ProcessStartInfo(file, args) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !okExit) throw new InvalidOperationException($"{file} {args} exited {p.ExitCode}: {error}{output.Result}");
        return output.Result;
    }

    private static bool Exists(string tool)
    {
        try
        {
            Exec(Environment.CurrentDirectory, tool, tool == "spin" ? "-V" : "--version");
            return true;
        }
        catch (Win32Exception)
        {
            return false;
        }
    }

    private static string Version() => Exec(Environment.CurrentDirectory, "spin", "-V").Trim();

    [GeneratedRegex(@"(\d+) states, stored")]
    private static partial Regex StatesStored();

    [GeneratedRegex(@"(\d+) transitions \(= stored\+matched\)")]
    private static partial Regex Transitions();

    [GeneratedRegex(@"pan: elapsed time ([0-9.e+-]+) seconds")]
    private static partial Regex Elapsed();

    [GeneratedRegex(@"errors: (\d+)")]
    private static partial Regex Errors();
}
