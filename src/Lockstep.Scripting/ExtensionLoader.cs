using System.Reflection;
using Lockstep.Models;

namespace Lockstep.Scripting;

/// <summary>What loading one user file did: the origin its registrations carry, and whether a script was compiled (not found in the cache).</summary>
public sealed record LoadResult(Origin Origin, bool Compiled);

/// <summary>
/// Loads the user files of --patch and --world into a <see cref="Registry"/>: a .csx script's top-level code runs
/// against <see cref="ScriptGlobals"/>; a .dll's public <see cref="IExtension"/> types register themselves. Either way
/// what they register is attributed to <see cref="Origin.OfFile"/>.
/// </summary>
public static class ExtensionLoader
{
    // Roslyn's names for a script's entry point: the first submission's class and its static Task<object> <Factory>(object[]),
    // whose array holds the globals object at [0] and a slot for the submission itself.
    private const string SubmissionClass = "Submission#0";
    private const string FactoryMethod = "<Factory>";

    /// <summary>Loads <paramref name="path"/>, caching a compiled script in the default directory (<c>$LOCKSTEP_CACHE</c>, else <c>$XDG_CACHE_HOME/lockstep/scripts</c>, else <c>~/.cache/lockstep/scripts</c>).</summary>
    /// <exception cref="ExtensionException">The file is missing, of an unknown kind, does not compile or load, or its registering threw.</exception>
    public static LoadResult Load(Registry registry, string path) => Load(registry, path, ScriptCache.DefaultDirectory());

    /// <param name="cacheDirectory">Where compiled scripts are kept; null: compile in memory every time.</param>
    /// <exception cref="ExtensionException">The file is missing, of an unknown kind, does not compile or load, or its registering threw.</exception>
    public static LoadResult Load(Registry registry, string path, string? cacheDirectory)
    {
        var kind = Path.GetExtension(path).ToLowerInvariant();
        if (kind is not (".csx" or ".dll")) throw new ExtensionException($"unknown extension of '{path}' (expected .csx or .dll)");
        byte[] content;
        try { content = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new ExtensionException($"no such file '{path}'"); }
        var origin = Origin.OfFile(path, content);
        return kind == ".csx" ? LoadScript(registry, path, content, origin, cacheDirectory) : LoadAssembly(registry, path, content, origin);
    }

    /// <summary>One path for a cold and a cached script: the image comes from the cache or the compiler, then it is loaded and run.</summary>
    private static LoadResult LoadScript(Registry registry, string path, byte[] source, Origin origin, string? cacheDirectory)
    {
        var cached = cacheDirectory == null ? null : ScriptCache.FileFor(cacheDirectory, source);
        var image = cached == null ? null : ScriptCache.Read(cached);
        var compiled = image == null;
        if (image == null)
        {
            image = ScriptCompiler.Compile(path, source);
            if (cached != null) ScriptCache.Write(cached, image);
        }
        var factory = Assembly.Load(image).GetType(SubmissionClass, throwOnError: true)!.GetMethod(FactoryMethod)!
            .CreateDelegate<Func<object?[], Task<object>>>();
        Registering(path, () => registry.Loading(origin, () => factory(new object?[] { new ScriptGlobals(registry), null }).GetAwaiter().GetResult()));
        return new LoadResult(origin, compiled);
    }

    private static LoadResult LoadAssembly(Registry registry, string path, byte[] image, Origin origin)
    {
        Type[] types;
        try { types = Assembly.Load(image).GetExportedTypes(); }
        catch (BadImageFormatException) { throw new ExtensionException($"{path}: not a .NET assembly"); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or TypeLoadException)
        {
            throw new ExtensionException($"{path}: cannot load its types: {e.Message}", e);
        }
        var extensions = types
            .Where(t => t is { IsAbstract: false, ContainsGenericParameters: false } && typeof(IExtension).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) != null)
            .ToList();
        if (extensions.Count == 0) throw new ExtensionException($"{path}: no public IExtension type (with a parameterless constructor)");
        Registering(path, () =>
        {
            foreach (var type in extensions) registry.Load((IExtension)Activator.CreateInstance(type)!, origin);
        });
        return new LoadResult(origin, Compiled: false);
    }

    /// <summary>Runs a file's registering; what it throws (a duplicate id's ArgumentException too) becomes one line naming the file.</summary>
    private static void Registering(string path, Action register)
    {
        try { register(); }
        catch (Exception e)
        {
            var thrown = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
            throw new ExtensionException($"{path}: registering threw {thrown.GetType().Name}: {thrown.Message}", thrown);
        }
    }
}
