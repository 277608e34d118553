"""(to be implemented)"""
