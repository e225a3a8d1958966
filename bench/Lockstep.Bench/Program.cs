using BenchmarkDotNet.Running;

namespace Lockstep.Bench;

/// <summary>
/// quick: a timed table in well under a minute (what the README reports); breakdown: engine alone vs DPOR per step;
/// startup: how soon a check of a user script gives its result, cold and cached;
/// coyote, spin: against Coyote and Spin on shared programs; scaling: executions as the world grows;
/// stepcost: ns and bytes per step on the kernel models; optimality: DPOR's explored executions per trace;
/// bdn: BenchmarkDotNet over the same programs (further arguments go to BenchmarkSwitcher, e.g. --filter "*").
/// Run in Release: dotnet run -c Release --project bench/Lockstep.Bench -- quick
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var mode = args.Length == 0 ? "quick" : args[0];
        switch (mode)
        {
            case "quick":
                return Quick.Run();
            case "breakdown":
                return Breakdown.Run();
            case "startup":
                return Startup.Run();
            case "coyote":
                return VsCoyote.Run();
            case "spin":
                return VsSpin.Run();
            case "scaling":
                return Scaling.Run();
            case "stepcost":
                return StepCost.Run(args.Length > 1 ? args[1] : null);
            case "optimality":
                return Optimality.Run();
            case "bdn":
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..]);
                return 0;
            default:
                Console.Error.WriteLine($"Lockstep.Bench: unknown mode '{mode}' (known: quick, breakdown, startup, coyote, spin, scaling, stepcost, optimality, bdn)");
                return 2;
        }
    }
}
