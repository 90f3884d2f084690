"""dataapi"""
