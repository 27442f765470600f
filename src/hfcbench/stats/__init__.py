"""Statistics: pure functions of scores and numbers, importing nothing else of hfcbench but its errors.

``metrics`` (AUC, TPR at a TNR, success rate), ``bootstrap`` (the paired bootstrap over AdvTest
images), ``intervals`` (percentile, Wilson and seed intervals), ``cell`` (every number of a
leaderboard cell).
"""
