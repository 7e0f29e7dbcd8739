"""Reports that others send us: taken apart (`mime`), parsed tolerantly (`schema`), bounded
(`limits`), authenticated (`auth`), analysed (`analyze`), summarised (`summary`) and explained
(`advice`)."""
