using System.Security.Cryptography;
using System.Text;
using Lockstep.Models;

namespace Lockstep.Scripting;

/// <summary>
/// Compiled scripts on disk, one file per key: the SHA-256 of the script's bytes, Lockstep's version and the MVIDs of
/// the assemblies it was compiled against, so a rebuilt Lockstep never runs a stale script.
/// </summary>
internal static class ScriptCache
{
    /// <summary>$LOCKSTEP_CACHE, else $XDG_CACHE_HOME/lockstep/scripts, else ~/.cache/lockstep/scripts; null without a home.</summary>
    public static string? DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable("LOCKSTEP_CACHE") is { Length: > 0 } cache) return cache;
        var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home ? Path.Combine(home, ".cache")
            : null;
        return root == null ? null : Path.Combine(root, "lockstep", "scripts");
    }

    public static string FileFor(string directory, byte[] source)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(source);
        hash.AppendData(Encoding.UTF8.GetBytes($"\0{Registry.Version}\0"));
        foreach (var assembly in LockstepAssemblies.All) hash.AppendData(assembly.ManifestModule.ModuleVersionId.ToByteArray());
        return Path.Combine(directory, Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant() + ".dll");
    }

    /// <summary>The cached image, or null if there is none (or it cannot be read).</summary>
    public static byte[]? Read(string file)
    {
        try { return File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Writes atomically (a temporary file in the same directory, then a rename); a cache that cannot be written is skipped.</summary>
    public static void Write(string file, byte[] image)
    {
        var temporary = $"{file}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
