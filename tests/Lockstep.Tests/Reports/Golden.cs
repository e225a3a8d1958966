using System.Runtime.CompilerServices;

namespace Lockstep.Tests.Reporting;

/// <summary>
/// Golden files under tests/Lockstep.Tests/Reports/golden. A mismatch fails with the first differing line; run the tests
/// with LOCKSTEP_UPDATE_GOLDEN=1 to rewrite the files after an intended change (and review the diff).
/// </summary>
internal static class Golden
{
    public static string Directory([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "golden");

    public static void Check(string name, string actual)
    {
        actual = actual.Replace("\r\n", "\n");
        var path = Path.Combine(Directory(), name);
        if (Environment.GetEnvironmentVariable("LOCKSTEP_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"golden file {path} is missing (LOCKSTEP_UPDATE_GOLDEN=1 writes it)");
        var expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected == actual) return;
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        var i = 0;
        while (i < e.Length && i < a.Length && e[i] == a[i]) i++;
        Assert.Fail($"{name} differs from its golden file at line {i + 1}:\n  golden: {(i < e.Length ? e[i] : "(end)")}\n  actual: {(i < a.Length ? a[i] : "(end)")}\n"
            + "If the change is intended, rerun with LOCKSTEP_UPDATE_GOLDEN=1 and review the diff.");
    }
}
