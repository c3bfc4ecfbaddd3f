"""What a run leaves behind: result files, printed tables, plots.

results  - environment metadata; JSON/CSV results written atomically; RunFile and then() (nothing measured is lost
           to a step after it)
tables   - printed tables
plotting - matplotlib figures
"""
